"""A worker that dies loses nothing: its jobs are rescued one lease later and resume from their
checkpoint. A worker that lives keeps its jobs, however long they run."""

from __future__ import annotations

import signal

import pytest

from .conftest import Harness, gone, wait_until

pytestmark = pytest.mark.slow

ITEMS = 8


def test_killed_worker_job_resumes_from_its_checkpoint_on_another_worker(uw: Harness) -> None:
    # The task allows an hour: recovery must follow the 1.5 s lease, not the time-out.
    job_id = uw.dispatch("resumable", items=ITEMS, step=0.3)
    first = uw.worker("--processes", "1", "--concurrency", "1", "--lease", "1.5")
    children = first.runner_pids(1)
    helpers = first.child_pids()
    wait_until(lambda: (uw.checkpoint(job_id) or 0) >= 3, "three items checkpointed by the first")

    first.send(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL
    # The children see their pipe close and exit at once, without being told.
    wait_until(lambda: all(gone(pid) for pid in [*children, *helpers]), "the orphans to exit")
    record = uw.app.store.job_get(job_id)
    assert record is not None
    assert record.status == "processing"
    assert record.attempts == 1
    saved = record.checkpoint
    assert 3 <= saved < ITEMS

    second = uw.worker("--processes", "1", "--concurrency", "1", "--lease", "1.5", "--sleep", "0.1")
    document = uw.wait(job_id)

    assert document["status"] == "completed", document
    assert document["attempts"] == 2
    assert document["result"] == 2
    assert document["progress"]["processed"] == ITEMS
    assert f"job {job_id} lost its worker; now pending" in second.log()
    items = [tuple(map(int, line.split())) for line in uw.lines("items")]
    first_attempt = [item for attempt, item in items if attempt == 1]
    second_attempt = [item for attempt, item in items if attempt == 2]
    assert first_attempt[:saved] == list(range(saved))
    # Items before the checkpoint are not redone; those after it are done by the second.
    assert second_attempt == list(range(saved, ITEMS))


def test_a_long_job_on_a_live_worker_is_never_started_twice(uw: Harness) -> None:
    # Three leases long, with no time-out; a second worker watches for expired leases throughout.
    lease = ("--lease", "1.5", "--processes", "1", "--concurrency", "1", "--sleep", "0.1")
    job_id = uw.dispatch("long_job", seconds=4.5)
    first = uw.worker(*lease)
    uw.wait_status(job_id, "processing")
    second = uw.worker(*lease)
    second.wait_started()

    document = uw.wait(job_id)

    assert document["status"] == "completed", document
    assert document["attempts"] == 1
    assert document["result"] == 1
    assert uw.lines("starts") == [f"{job_id} 1"]
    assert "lost its worker" not in first.log() + second.log()
