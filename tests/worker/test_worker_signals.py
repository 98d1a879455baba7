"""SIGTERM stops claiming, lets running jobs finish within --grace, puts the rest back to
pending without charging an attempt, and exits 0."""

from __future__ import annotations

import signal

import pytest

from .conftest import Harness, gone, wait_until

pytestmark = pytest.mark.slow

TWO_BY_TWO = ("--processes", "2", "--concurrency", "2", "--sleep", "0.1")


def test_sigterm_lets_running_jobs_finish_within_the_grace(uw: Harness) -> None:
    running = [uw.dispatch("steady", seconds=1.0) for _ in range(4)]
    waiting = [uw.dispatch("record") for _ in range(3)]
    worker = uw.worker(*TWO_BY_TWO, "--grace", "30")
    wait_until(lambda: len(uw.lines("started")) == 4, "four jobs to start")

    worker.send(signal.SIGTERM)

    assert worker.wait() == 0, worker.log()
    assert [uw.get(job_id)["status"] for job_id in running] == ["completed"] * 4
    assert sorted(uw.lines("finished")) == sorted(running)
    # No job was claimed after the signal.
    assert [uw.get(job_id)["status"] for job_id in waiting] == ["pending"] * 3
    assert [uw.get(job_id)["attempts"] for job_id in waiting] == [0] * 3


def test_sigterm_puts_jobs_unfinished_after_the_grace_back_uncharged(uw: Harness) -> None:
    running = [uw.dispatch("steady", seconds=60) for _ in range(4)]
    worker = uw.worker(*TWO_BY_TWO, "--grace", "0.5")
    wait_until(lambda: len(uw.lines("started")) == 4, "four jobs to start")
    assert [uw.get(job_id)["attempts"] for job_id in running] == [1] * 4
    children = worker.child_pids()

    worker.send(signal.SIGTERM)

    assert worker.wait() == 0, worker.log()
    wait_until(lambda: all(gone(pid) for pid in children), "the worker's children to exit")
    documents = [uw.get(job_id) for job_id in running]
    assert [d["status"] for d in documents] == ["pending"] * 4
    assert [d["attempts"] for d in documents] == [0] * 4
    assert [d["error"] for d in documents] == [None] * 4
    assert uw.lines("finished") == []
    assert worker.log().count("put back to pending") == 4


def test_sigterm_gives_back_short_jobs_held_ahead_uncharged(uw: Harness) -> None:
    """Short jobs are handed to a child beyond its slots; on SIGTERM those not started go back
    to pending with no attempt charged, and none is lost or run twice."""
    ids = uw.app.dispatch_many("steady", [{"seconds": 0.02}] * 200)
    worker = uw.worker("--processes", "1", "--concurrency", "2", "--grace", "30")
    wait_until(lambda: len(uw.lines("finished")) >= 20, "twenty jobs to finish")

    worker.send(signal.SIGTERM)

    assert worker.wait() == 0, worker.log()
    documents = {job_id: uw.get(job_id) for job_id in ids}
    finished = uw.lines("finished")
    assert len(finished) == len(set(finished)), "a job ran twice"
    completed = {j for j, d in documents.items() if d["status"] == "completed"}
    assert completed == set(finished)
    pending = [d for d in documents.values() if d["status"] == "pending"]
    assert len(completed) + len(pending) == len(ids)
    assert pending, "the worker stopped only after every job"
    assert all(d["attempts"] == 0 for d in pending)
    assert "put back to pending" in worker.log()  # jobs held ahead were given back
