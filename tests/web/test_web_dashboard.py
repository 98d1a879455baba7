"""Dashboard pages through HTTP: content, filters, actions, no-worker warnings, mounting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from web_helpers import LOCAL_CLIENT, TOKENS, csrf_of, sign_in, wait_until

from underway import Underway
from underway.web import create_app

pytestmark = pytest.mark.anyio

ADMIN_TOKEN = "admin-token-0123456789"
STATIC = Path(__file__).parents[2] / "src" / "underway" / "web" / "static"


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await sign_in(client, ADMIN_TOKEN)
    return client


def finished_jobs(jobs: Underway) -> dict[str, str]:
    """A completed job with one failed item, and a failed job, run in-process (eager)."""
    jobs.eager = True
    done = jobs.dispatch("demo.fix_all", {"n": 3, "fail": [2]}, owner="alice")
    failed = jobs.dispatch("demo.boom", {"message": "quota exceeded"}, owner="alice")
    jobs.eager = False
    return {"done": done, "failed": failed}


async def test_overview(admin: httpx.AsyncClient, jobs: Underway) -> None:
    finished_jobs(jobs)
    jobs.dispatch("demo.echo", queue="mail")
    html = (await admin.get("/")).text
    assert "<h1>Overview</h1>" in html
    assert re.search(r'<a href="/jobs\?queue=mail">mail</a>', html)
    assert 'href="/jobs?queue=default&amp;status=completed">1<' in html
    assert "1</strong> completed and <strong>1</strong> failed in the last minute" in html
    assert "Workers alive: 0" in html
    assert "RuntimeError: quota exceeded" in html  # recent failures


async def test_an_owners_overview_shows_only_its_own_jobs(
    client: httpx.AsyncClient, jobs: Underway
) -> None:
    jobs.eager = True
    jobs.dispatch("demo.boom", {"message": "alice's secret failure"}, queue="secret", owner="alice")
    jobs.dispatch("demo.fix_all", {"n": 1}, queue="shared", owner="bob")
    await sign_in(client, "bob-token-0123456789")
    html = (await client.get("/")).text
    assert "Your jobs only" in html
    assert ">shared<" in html
    assert "secret" not in html
    assert "1</strong> completed and <strong>0</strong> failed in the last minute" in html
    failed = (await client.get("/failed")).text
    assert "No failed jobs." in failed


@pytest.mark.parametrize("path", ["/", "/jobs", "/failed", "job"])
async def test_every_page_says_when_no_worker_runs(
    admin: httpx.AsyncClient, jobs: Underway, path: str
) -> None:
    job_id = jobs.dispatch("demo.echo")
    html = (await admin.get(f"/jobs/{job_id}" if path == "job" else path)).text
    assert "No worker is running." in html
    assert "underway worker --app" in html
    if path == "job":
        assert "This job is waiting: no worker is running." in html


async def test_overview_shows_live_workers_and_what_they_run(
    admin: httpx.AsyncClient, jobs: Underway, worker: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    job_id = jobs.dispatch("demo.fix_all", {"n": 4, "gate": str(gate)})
    worker()
    wait_until(lambda: jobs.get(job_id)["status"] == "processing", what="the job to start")  # type: ignore[index]
    gate.write_text("2")
    wait_until(lambda: jobs.get(job_id)["progress"]["processed"] == 2, what="2 items")  # type: ignore[index]
    html = (await admin.get("/")).text
    assert "No worker is running" not in html
    assert "Workers alive: 1" in html
    assert f'<a href="/jobs/{job_id}">demo.fix_all</a>' in html
    assert "50.0 %" in html
    gate.write_text("4")
    wait_until(lambda: jobs.get(job_id)["status"] == "completed", what="the job to complete")  # type: ignore[index]


async def test_jobs_list_filters_and_search(admin: httpx.AsyncClient, jobs: Underway) -> None:
    ids = finished_jobs(jobs)
    pending = jobs.dispatch("demo.echo", queue="mail")
    everything = (await admin.get("/jobs")).text
    assert all(job_id in everything for job_id in (*ids.values(), pending))
    failed = (await admin.get("/jobs?status=failed")).text
    assert ids["failed"] in failed and ids["done"] not in failed and pending not in failed
    by_task = (await admin.get("/jobs?task=demo.fix_all")).text
    assert ids["done"] in by_task and ids["failed"] not in by_task
    by_queue = (await admin.get("/jobs?queue=mail")).text
    assert pending in by_queue and ids["done"] not in by_queue
    found = await admin.get(f"/jobs?q={ids['done']}", follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"] == f"/jobs/{ids['done']}"
    missing = await admin.get("/jobs?q=01h00000000000000000000000")
    assert missing.status_code == 404
    assert "No job with id" in missing.text
    assert (await admin.get("/jobs?status=bogus")).status_code == 400


async def test_jobs_list_pages_with_a_cursor(admin: httpx.AsyncClient, jobs: Underway) -> None:
    ids = [jobs.dispatch("demo.echo") for _ in range(55)]
    first = (await admin.get("/jobs")).text
    assert ids[-1] in first and ids[0] not in first
    older = re.search(r'href="(/jobs\?cursor=[^"]+)">Older jobs', first)
    assert older
    second = (await admin.get(older.group(1).replace("&amp;", "&"))).text
    assert ids[0] in second and ids[-1] not in second


async def test_job_page_shows_progress_results_usage_and_result(
    admin: httpx.AsyncClient, jobs: Underway
) -> None:
    ids = finished_jobs(jobs)
    html = (await admin.get(f"/jobs/{ids['done']}")).text
    assert '<span class="badge s-completed">completed</span>' in html
    assert '<progress max="100" value="100.0">' in html
    assert '<strong data-field="percent">100 %</strong>' in html
    assert '<span data-field="counts">3 / 3</span>' in html
    assert '<span data-field="current">src/module_3.py</span>' in html
    items = re.findall(
        r'<li class="(ok|fail)">.*?<strong>(issue-\d)</strong> <span class="msg">(.*?)</span>', html
    )
    assert items == [
        ("ok", "issue-1", "fixed"),
        ("fail", "issue-2", "could not fix"),
        ("ok", "issue-3", "fixed"),
    ]
    assert "ai_cost: <strong>$0.0036</strong>" in html
    assert "tokens: <strong>450</strong>" in html
    assert '"fixed": 2' in html  # the result, as JSON
    assert '<dd data-field="attempts">1 / 1</dd>' in html
    assert "data-events" not in html  # finished: nothing to follow
    assert 'http-equiv="refresh"' not in html
    assert "/retry" not in html and "/cancel" not in html


async def test_failed_job_page_shows_error_traceback_and_retry(
    admin: httpx.AsyncClient, jobs: Underway
) -> None:
    ids = finished_jobs(jobs)
    html = (await admin.get(f"/jobs/{ids['failed']}")).text
    assert '<pre class="err">RuntimeError: quota exceeded</pre>' in html
    assert "Traceback (most recent call last)" in html
    assert "raise RuntimeError(message)" in html
    assert f'action="/jobs/{ids["failed"]}/retry"' in html
    response = await admin.post(f"/jobs/{ids['failed']}/retry", data={"csrf": csrf_of(html)})
    assert response.status_code == 200
    assert "Job queued again." in response.text
    assert jobs.get(ids["failed"])["status"] == "pending"  # type: ignore[index]


async def test_pending_job_page_follows_its_events_and_can_be_cancelled(
    admin: httpx.AsyncClient, jobs: Underway
) -> None:
    job_id = jobs.dispatch("demo.echo")
    html = (await admin.get(f"/jobs/{job_id}")).text
    assert f'data-events="/api/jobs/{job_id}/events"' in html
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in html
    response = await admin.post(f"/jobs/{job_id}/cancel", data={"csrf": csrf_of(html)})
    assert "Job cancelled." in response.text
    assert jobs.get(job_id)["status"] == "cancelled"  # type: ignore[index]
    again = await admin.post(f"/jobs/{job_id}/cancel", data={"csrf": csrf_of(html)})
    assert again.status_code == 409
    assert "it is cancelled" in again.text


async def test_failed_page_retry_one_retry_all_delete(
    admin: httpx.AsyncClient, jobs: Underway
) -> None:
    jobs.eager = True
    failed = [jobs.dispatch("demo.boom", {"message": f"error number {i}"}) for i in range(4)]
    jobs.eager = False
    html = (await admin.get("/failed")).text
    for i, job_id in enumerate(failed):
        assert job_id in html
        assert f"RuntimeError: error number {i}" in html
    csrf = csrf_of(html)
    one = await admin.post(f"/jobs/{failed[0]}/retry", data={"csrf": csrf, "next": "/failed"})
    assert one.url.path == "/failed"
    assert failed[0] not in one.text
    gone = await admin.post(f"/jobs/{failed[1]}/delete", data={"csrf": csrf, "next": "/failed"})
    assert "Job deleted." in gone.text
    assert jobs.get(failed[1]) is None
    everything = await admin.post("/failed/retry-all", data={"csrf": csrf, "next": "/failed"})
    assert "Failed jobs queued again: 2." in everything.text
    assert "No failed jobs." in everything.text
    assert {jobs.get(j)["status"] for j in (failed[0], *failed[2:])} == {"pending"}  # type: ignore[index]


async def test_fragments_hold_only_the_live_region(admin: httpx.AsyncClient) -> None:
    for path in ("/?fragment=1", "/jobs?fragment=1", "/failed?fragment=1"):
        html = (await admin.get(path)).text
        assert "<html" not in html and "No worker is running." in html


async def test_pages_load_nothing_from_other_sites(
    admin: httpx.AsyncClient, jobs: Underway
) -> None:
    ids = finished_jobs(jobs)
    for path in ("/", "/jobs", "/failed", f"/jobs/{ids['done']}", "/signin"):
        response = await admin.get(path)
        assert "default-src 'self'" in response.headers["content-security-policy"]
        for url in re.findall(r'(?:src|href|action)="([^"]*)"', response.text):
            assert (url.startswith("/") and not url.startswith("//")) or url == "data:,", url
        assert "style=" not in response.text  # inline styles would break the CSP
    for asset in STATIC.iterdir():
        text = asset.read_text()
        assert "http://" not in text and "https://" not in text and "@import" not in text
        assert (await admin.get(f"/static/{asset.name}")).status_code == 200
        # The widget's two files share their own budget (tests/web/test_widget*).
        assert asset.stat().st_size < (15_360 if asset.stem == "underway-progress" else 10_000)


async def test_the_app_mounts_under_a_prefix(jobs: Underway) -> None:
    main = FastAPI()
    main.mount("/ops/jobs", create_app(jobs, tokens=TOKENS))
    transport = httpx.ASGITransport(app=main, client=LOCAL_CLIENT)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        redirect = await client.get("/ops/jobs/failed")
        assert redirect.status_code == 303
        assert redirect.headers["location"] == "/ops/jobs/signin?next=%2Ffailed"
        page = await client.get("/ops/jobs/signin")
        assert 'action="/ops/jobs/signin"' in page.text
        assert 'href="/ops/jobs/static/style.css"' in page.text
        signed = await client.post(
            "/ops/jobs/signin",
            data={"csrf": csrf_of(page.text), "token": ADMIN_TOKEN, "next": "/failed"},
        )
        assert signed.headers["location"] == "/ops/jobs/failed"
        assert "path=/ops/jobs" in signed.headers["set-cookie"].lower()
        assert (await client.get("/ops/jobs/failed")).status_code == 200
        assert (await client.get("/ops/jobs/static/live.js")).status_code == 200
        created = await client.post(
            "/ops/jobs/api/jobs",
            json={"task": "demo.echo"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert created.status_code == 202
        job_page = await client.get(f"/ops/jobs/jobs/{created.json()['job_id']}")
        assert (
            f'data-events="/ops/jobs/api/jobs/{created.json()["job_id"]}/events"' in job_page.text
        )


async def test_open_local_mode_forms_still_need_csrf(jobs: Underway) -> None:
    transport = httpx.ASGITransport(app=create_app(jobs, tokens={}), client=LOCAL_CLIENT)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", follow_redirects=True
    ) as client:
        job_id = jobs.dispatch("demo.echo")
        forged = await client.post(f"/jobs/{job_id}/cancel", data={"csrf": "0" * 64})
        assert forged.status_code == 403  # a page on another site cannot drive a local dashboard
        page = await client.get(f"/jobs/{job_id}")
        done = await client.post(f"/jobs/{job_id}/cancel", data={"csrf": csrf_of(page.text)})
        assert "Job cancelled." in done.text
    assert jobs.get(job_id)["status"] == "cancelled"  # type: ignore[index]
