"""Server-Sent Events over a real socket (uvicorn) while a real worker process runs the job."""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sse import Follower, messages
from web_helpers import ADMIN, ALICE, BOB, TOKENS, live_server, wait_until

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


def test_stream_follows_a_job_live_sending_changes_and_ends_after_it_completes(
    jobs: Underway, base_url: str, worker: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    with httpx.Client(base_url=base_url, headers=ALICE, timeout=READ_TIMEOUT) as client:
        created = client.post(
            "/api/jobs", json={"task": "demo.fix_all", "args": {"n": 6, "gate": str(gate)}}
        )
        job_id = created.json()["job_id"]
        follower, kinds, documents = Follower(), [], []
        with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-cache"
            for message in messages(stream.iter_lines()):
                if not follower.take(message):
                    continue
                kinds.append(message.event)
                if message.event == "output":
                    continue
                document = copy.deepcopy(follower.document)
                documents.append(document)
                processed = document["progress"]["processed"]
                if len(documents) == 1:
                    assert document["status"] == "pending"
                    assert document["warning"] == "no worker is running"
                    assert message.id == "0.0.0"
                    worker()
                elif document["status"] == "processing" and processed < 6:
                    # Let the job go one item further only once this stream has shown the last.
                    gate.write_text(str(processed + 1))
            # The loop ends because the server closed the stream, not because we stopped reading.
    assert follower.ended == {"job_id": job_id, "status": "completed"}  # the last: close now
    # A whole document first and last; only changes between them.
    assert kinds[0] == kinds[-1] == "message" and set(kinds[1:-1]) == {"change", "output"}
    statuses = [d["status"] for d in documents]
    assert statuses[0] == "pending" and statuses[-1] == "completed"
    assert "processing" in statuses
    progress = [d["progress"]["processed"] for d in documents]
    assert progress == sorted(progress)
    assert len(set(progress)) >= 4, f"the stream showed too few steps: {progress}"
    last = documents[-1]
    assert last == jobs.get(job_id)  # the final whole document is the job as stored
    assert last["progress"] == {
        "total": 6, "processed": 6, "percent": 100.0, "current": "src/module_6.py",
        "rate_per_s": last["progress"]["rate_per_s"], "eta_s": last["progress"]["eta_s"],
    }  # fmt: skip
    assert [r["item"] for r in last["results"]] == [f"issue-{i}" for i in range(1, 7)]
    # Changes carried each result once, in order (the final whole document repeats them all).
    seen = [r["item"] for r in follower.results_seen]
    assert seen == [f"issue-{i}" for i in range(1, len(seen) + 1)] and len(seen) >= 4
    assert last["result"] == {"fixed": 6}
    assert "warning" not in last
    assert (
        follower.output
        == jobs.output(job_id)
        == "".join(f"issue-{i}: fixed\n" for i in range(1, 7))
    )
    assert follower.last_id == f"6.0.{len(follower.output)}"
    # No two consecutive messages leave the same document: one message per change.
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


def test_a_resumed_stream_sends_only_what_its_client_lacks(
    jobs: Underway, base_url: str, worker: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    job_id = jobs.dispatch("demo.fix_all", {"n": 8, "gate": str(gate)}, owner="alice")
    worker()
    follower = Follower()
    with httpx.Client(base_url=base_url, headers=ALICE, timeout=READ_TIMEOUT) as client:
        with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
            for message in messages(stream.iter_lines()):
                follower.take(message)
                processed = follower.document["progress"]["processed"]
                if processed >= 3:
                    break  # the client goes away mid-job...
                gate.write_text(str(processed + 1))
        held = [r["item"] for r in follower.document["results"]]
        sent_before, output_held = len(follower.results_seen), len(follower.output)
        chunks_before = len(follower.output_offsets)
        gate.write_text("6")  # ...and the job goes on without it
        jobs_wait_processed(jobs, job_id, 6)
        resume = {"Last-Event-ID": follower.last_id or ""}
        kinds = []
        with client.stream("GET", f"/api/jobs/{job_id}/events", headers=resume) as stream:
            for message in messages(stream.iter_lines()):
                if follower.take(message):
                    kinds.append(message.event)
                    gate.write_text("8")
        # A query parameter resumes too (the header wins when both are sent).
        tail = client.get(
            f"/api/jobs/{job_id}/events",
            params={"last_event_id": f"8.0.{len(jobs.output(job_id))}"},
        )
        bad = client.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": "3.x"})
        ahead = client.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": "50.0.0"})
    assert kinds[0] in ("output", "change")  # not the whole document again
    resumed = [r["item"] for r in follower.results_seen[sent_before:]]
    # What the client held, then what the resumed stream's changes sent: each result once, in
    # order, with nothing skipped (the final whole document repeats them all).
    assert held + resumed == [f"issue-{i}" for i in range(1, len(held) + len(resumed) + 1)]
    assert len(held) >= 3 and len(resumed) >= 3
    # The output too: the resumed stream's first chunk starts where the client's text ended.
    assert follower.output_offsets[chunks_before] == output_held > 0
    lines = [f"issue-{i}: fixed\n" for i in range(1, 9)]
    assert follower.output == "".join(lines) == jobs.output(job_id)
    assert follower.document == jobs.get(job_id) and follower.ended is not None
    assert [m.event for m in messages(tail.text.splitlines())] == ["message", "end"]
    assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["detail"]
    # A cursor ahead of the job cannot be this job's: the stream starts over, from nothing.
    over = list(messages(ahead.text.splitlines()))
    kinds_over = [m.event for m in over]
    assert kinds_over[-2:] == ["message", "end"] and "change" not in kinds_over
    assert over[0].event == "output" and over[0].json()["offset"] == 0


def jobs_wait_processed(jobs: Underway, job_id: str, n: int) -> None:
    wait_until(lambda: (jobs.get(job_id) or {})["progress"]["processed"] >= n, what=f"{n} done")


def test_streams_of_one_job_share_one_watcher(jobs: Underway, base_url: str) -> None:
    job_id = jobs.dispatch("demo.echo", owner="alice")
    opened = threading.Barrier(6)
    stop = threading.Event()

    def watch() -> None:
        with (
            httpx.Client(base_url=base_url, headers=ALICE, timeout=READ_TIMEOUT) as client,
            client.stream("GET", f"/api/jobs/{job_id}/events") as stream,
        ):
            lines = stream.iter_lines()
            next(lines)  # retry: the stream is open
            opened.wait()
            stop.wait(10)

    threads = [threading.Thread(target=watch) for _ in range(5)]
    for thread in threads:
        thread.start()
    opened.wait()
    try:
        with httpx.Client(base_url=base_url, headers=ADMIN, timeout=READ_TIMEOUT) as client:
            wait_until(lambda: "underway_stream_connections 5" in client.get("/metrics").text)
            metrics = client.get("/metrics").text
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert "underway_stream_jobs_followed 1" in metrics
