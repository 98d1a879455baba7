"""Report generation: the source system's JSON shapes, ownership, and safe rendering."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from demo_helpers import csrf_of

from examples.reports.entries import EntryRepository
from examples.reports.tasks import generate
from examples.settings import app_database
from underway import Underway


def sign_in(client: httpx.Client, user: str) -> None:
    page = client.get("/demo/sign-in")
    answer = client.post(
        "/demo/sign-in", data={"user": user, "csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert answer.status_code == 303


def entry_ids(user: str) -> list[int]:
    return [entry.id for entry in EntryRepository(app_database()).for_user(user)]


def test_signed_out_users_are_sent_to_sign_in(client: httpx.Client) -> None:
    assert client.get("/reports", follow_redirects=False).headers["location"] == "/demo/sign-in"
    assert client.post("/reports/generate", json={"entry_ids": [1]}).status_code == 401


def test_generate_answers_at_once_and_pending_shows_only_the_status(client: httpx.Client) -> None:
    sign_in(client, "alice")
    page = client.get("/reports")
    assert "Weave Fragments" in page.text and page.text.count('name="entry_ids"') == 7
    answer = client.post("/reports/generate", json={"entry_ids": entry_ids("alice")})
    assert answer.status_code == 202
    body = answer.json()
    assert body == {
        "job_id": body["job_id"],
        "status": "pending",
        "message": "Report generation started in background",
    }
    status = client.get(f"/reports/job/{body['job_id']}").json()
    assert status == {"job_id": body["job_id"], "status": "pending"}


def test_completed_report_has_the_source_shape(demo: Underway, client: httpx.Client) -> None:
    demo.eager = True
    sign_in(client, "bob")
    job_id = client.post("/reports/generate", json={"entry_ids": entry_ids("bob")}).json()["job_id"]
    status = client.get(f"/reports/job/{job_id}").json()
    assert set(status) == {"job_id", "status", "report", "period"}
    assert status["status"] == "completed"
    assert status["report"].startswith("# Weekly Progress Report")
    assert status["period"] == {"start": "Feb 01, 2026", "end": "Feb 07, 2026"}
    html = client.get(f"/reports/job/{job_id}/html").text
    assert "<h1>Weekly Progress Report</h1>" in html and "Written offline" in html


def test_failed_report_has_the_source_shape(demo: Underway, client: httpx.Client) -> None:
    demo.eager = True
    sign_in(client, "alice")
    # Dispatched around the API's check: the task itself refuses entries that are not alice's.
    job_id = demo.dispatch(
        generate, {"user_id": "alice", "entry_ids": entry_ids("bob")}, owner="alice"
    )
    status = client.get(f"/reports/job/{job_id}").json()
    assert set(status) == {"job_id", "status", "error"}
    assert status["status"] == "failed" and "do not belong to alice" in status["error"]


def test_other_users_jobs_are_404_and_their_entries_422(client: httpx.Client) -> None:
    sign_in(client, "alice")
    job_id = client.post("/reports/generate", json={"entry_ids": entry_ids("alice")}).json()[
        "job_id"
    ]
    assert (
        client.post("/reports/generate", json={"entry_ids": entry_ids("bob")[:1]}).status_code
        == 422
    )
    assert client.post("/reports/generate", json={"entry_ids": []}).status_code == 422
    sign_in(client, "bob")
    assert client.get(f"/reports/job/{job_id}").status_code == 404
    assert client.get(f"/reports/job/{job_id}/html").status_code == 404


def test_report_html_is_escaped(demo: Underway, client: httpx.Client) -> None:
    demo.eager = True
    repository = EntryRepository(app_database())
    with repository._connect() as conn:
        conn.execute(
            "UPDATE journal_entries SET text = '<script>alert(1)</script> <img src=x onerror=y>' "
            "WHERE user_id = 'alice'"
        )
    sign_in(client, "alice")
    job_id = client.post("/reports/generate", json={"entry_ids": entry_ids("alice")}).json()[
        "job_id"
    ]
    html = client.get(f"/reports/job/{job_id}/html").text
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_offline_latency_is_simulated_and_the_page_says_so(
    demo: Underway, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client, "alice")
    assert "Simulated" not in client.get("/reports").text
    monkeypatch.setenv("OFFLINE_LATENCY", "0.4")
    assert "Simulated 0.4 s per call" in client.get("/reports").text
    demo.eager = True
    started = time.monotonic()
    answer = client.post("/reports/generate", json={"entry_ids": entry_ids("alice")})
    assert time.monotonic() - started >= 0.4
    assert client.get(f"/reports/job/{answer.json()['job_id']}").json()["status"] == "completed"


def test_the_report_is_streamed_as_the_job_output(demo: Underway, client: httpx.Client) -> None:
    demo.eager = True
    sign_in(client, "bob")
    job_id = client.post("/reports/generate", json={"entry_ids": entry_ids("bob")}).json()["job_id"]
    report = client.get(f"/reports/job/{job_id}").json()["report"]
    assert demo.output(job_id) == report  # every piece, in order, and the result is the whole
    document = client.get(f"/watch/api/jobs/{job_id}").json()  # as bob, by the demo's session
    assert document["output_length"] == len(report)
    output = client.get(f"/watch/api/jobs/{job_id}/output", params={"offset": 0}).json()
    assert output["text"] == report


def test_the_page_follows_the_users_own_job_through_the_widget(
    demo: Underway, client: httpx.Client
) -> None:
    sign_in(client, "alice")
    job_id = client.post("/reports/generate", json={"entry_ids": entry_ids("alice")}).json()[
        "job_id"
    ]
    page = client.get("/reports", params={"job": job_id}).text
    # No view link: the widget reads the job as alice, whom the /watch mount knows by her
    # demo session (its authenticate hook).
    assert f'<underway-progress job="{job_id}" src="/watch" markdown>' in page
    assert client.get(f"/watch/api/jobs/{job_id}").json()["owner"] == "alice"
    with client.stream("GET", f"/watch/api/jobs/{job_id}/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        first = next(line for line in events.iter_lines() if line.startswith("data:"))
    assert json.loads(first.removeprefix("data:"))["job_id"] == job_id  # not `event: gone`
    sign_in(client, "bob")
    assert client.get(f"/watch/api/jobs/{job_id}").status_code == 404
    assert client.get("/reports", params={"job": job_id}).status_code == 404
    client.cookies.clear()
    assert client.get(f"/watch/api/jobs/{job_id}").status_code == 401


def test_a_finished_report_is_on_its_page_without_javascript(
    demo: Underway, client: httpx.Client
) -> None:
    demo.eager = True
    sign_in(client, "alice")
    job_id = client.post("/reports/generate", json={"entry_ids": entry_ids("alice")[:2]}).json()[
        "job_id"
    ]
    page = client.get("/reports", params={"job": job_id}).text
    assert "Report for Feb 01, 2026 to Feb 02, 2026" in page
    assert '<section id="progress" class="report-progress done"' in page
    assert "<h1>Weekly Progress Report</h1>" in page and "Written offline" in page
