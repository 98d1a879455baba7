"""Server-Sent Events over a real socket (uvicorn) while a real worker process runs the job."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import ADMIN, ALICE, BOB, TOKENS, live_server

from underway import Underway
from underway.web import create_app

READ_TIMEOUT = httpx.Timeout(10.0, read=10.0)


@pytest.fixture
def base_url(jobs: Underway) -> Iterator[str]:
    with live_server(create_app(jobs, tokens=TOKENS, keepalive_interval=0.3)) as url:
        yield url


def events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(kind, payload) per SSE line: ("data", json) for a plain message, (name, json) for the
    data of a named event (`event: end`), ("comment", text) or ("retry", ms)."""
    named = None
    for line in lines:
        if not line:
            named = None
        elif line.startswith("data: "):
            yield named or "data", line[len("data: ") :]
        elif line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("retry: "):
            yield "retry", line[len("retry: ") :]
        elif line.startswith("event: "):
            named = line[len("event: ") :]
            yield "event", named


def test_stream_follows_a_job_live_and_ends_after_it_completes(
    jobs: Underway, base_url: str, worker: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    with httpx.Client(base_url=base_url, headers=ALICE, timeout=READ_TIMEOUT) as client:
        created = client.post(
            "/api/jobs", json={"task": "demo.fix_all", "args": {"n": 6, "gate": str(gate)}}
        )
        job_id = created.json()["job_id"]
        documents: list[dict[str, Any]] = []
        ended = None
        with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-cache"
            for kind, payload in events(stream.iter_lines()):
                if kind == "end":
                    ended = json.loads(payload)
                if kind != "data":
                    continue
                document = json.loads(payload)
                documents.append(document)
                processed = document["progress"]["processed"]
                if len(documents) == 1:
                    assert document["status"] == "pending"
                    assert document["warning"] == "no worker is running"
                    worker()
                elif document["status"] == "processing" and processed < 6:
                    # Let the job go one item further only once this stream has shown the last.
                    gate.write_text(str(processed + 1))
            # The loop ends because the server closed the stream, not because we stopped reading.
    statuses = [d["status"] for d in documents]
    assert statuses[0] == "pending" and statuses[-1] == "completed"
    assert ended == {"job_id": job_id, "status": "completed"}  # the last message: close now
    assert "processing" in statuses
    progress = [d["progress"]["processed"] for d in documents]
    assert progress == sorted(progress)
    assert len(set(progress)) >= 4, f"the stream showed too few steps: {progress}"
    last = documents[-1]
    assert last["progress"] == {
        "total": 6, "processed": 6, "percent": 100.0, "current": "src/module_6.py"
    }  # fmt: skip
    assert [r["item"] for r in last["results"]] == [f"issue-{i}" for i in range(1, 7)]
    assert last["result"] == {"fixed": 6}
    assert "warning" not in last
    # No two consecutive messages are the same document: one message per change.
    assert all(a != b for a, b in itertools.pairwise(documents))


def test_stream_sends_keep_alives_while_idle_and_ends_on_cancel(
    jobs: Underway, base_url: str
) -> None:
    job_id = jobs.dispatch("demo.echo", owner="alice")
    seen: list[tuple[str, str]] = []
    with (
        httpx.Client(base_url=base_url, headers=ALICE, timeout=READ_TIMEOUT) as client,
        client.stream("GET", f"/api/jobs/{job_id}/events") as stream,
    ):
        for kind, payload in events(stream.iter_lines()):
            seen.append((kind, payload))
            if kind == "comment" and not any(k == "data" and "cancelled" in p for k, p in seen):
                assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "retry"
    assert ("comment", "keep-alive") in seen
    data = [json.loads(p) for k, p in seen if k == "data"]
    assert [d["status"] for d in data] == ["pending", "cancelled"]
    assert seen[-1] == (
        "end",
        json.dumps({"job_id": job_id, "status": "cancelled"}, separators=(",", ":")),
    )


def test_stream_of_a_finished_job_sends_it_once_and_ends(jobs: Underway, base_url: str) -> None:
    jobs.eager = True
    job_id = jobs.dispatch("demo.boom", owner="alice")
    with httpx.Client(base_url=base_url, headers=ADMIN, timeout=READ_TIMEOUT) as client:
        body = client.get(f"/api/jobs/{job_id}/events").text
    messages = list(events(iter(body.splitlines())))
    data = [payload for kind, payload in messages if kind == "data"]
    assert len(data) == 1
    assert json.loads(data[0])["error"] == "RuntimeError: the model refused"
    assert messages[-1] == ("end", f'{{"job_id":"{job_id}","status":"failed"}}')


def test_stream_tells_when_the_job_is_deleted(jobs: Underway, base_url: str) -> None:
    job_id = jobs.dispatch("demo.echo", owner="alice")
    lines = []
    with (
        httpx.Client(base_url=base_url, headers=ALICE, timeout=READ_TIMEOUT) as client,
        client.stream("GET", f"/api/jobs/{job_id}/events") as stream,
    ):
        for line in stream.iter_lines():
            lines.append(line)
            if line.startswith("data: ") and len(lines) < 5:
                assert jobs.delete(job_id)
    assert "event: gone" in lines


def test_other_owners_and_strangers_get_no_stream(jobs: Underway, base_url: str) -> None:
    job_id = jobs.dispatch("demo.echo", owner="alice")
    with httpx.Client(base_url=base_url, timeout=READ_TIMEOUT) as client:
        assert client.get(f"/api/jobs/{job_id}/events", headers=BOB).status_code == 404
        assert client.get(f"/api/jobs/{job_id}/events").status_code == 401


def test_dashboard_pages_stream_their_content(jobs: Underway, base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=READ_TIMEOUT) as client:
        signin = client.get("/signin")
        csrf = signin.text.split('name="csrf" value="')[1][:64]
        client.post("/signin", data={"csrf": csrf, "token": "admin-token-0123456789"})
        fragments: list[str] = []
        with client.stream("GET", "/live/failed") as stream:
            assert stream.status_code == 200
            message: list[str] = []
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    message.append(line[6:])
                elif line == "" and message:
                    fragments.append("\n".join(message))
                    message = []
                    if len(fragments) == 1:
                        jobs.eager = True
                        jobs.dispatch("demo.boom", {"message": "fresh failure"})
                    else:
                        break
    assert "No failed jobs." in fragments[0]
    assert "RuntimeError: fresh failure" in fragments[1]
    assert "<html" not in fragments[1]
