"""Cancel: a pending job never runs; a running async task is cancelled; a running plain task sees
job.cancelled and stops, or is killed with its process once --grace has passed."""

from __future__ import annotations

import pytest

from .conftest import Harness, Worker, gone, wait_until

pytestmark = pytest.mark.slow

# Cancels are seen at the next heartbeat: a short lease makes that a third of a second.
FLAGS = ("--processes", "1", "--concurrency", "2", "--lease", "1", "--sleep", "0.1")


def start_and_cancel(uw: Harness, task: str, *flags: str) -> tuple[Worker, str, int]:
    """Start `task` in a worker, cancel it once it runs; return the worker, job id and the pid
    the task runs in."""
    worker = uw.worker(*FLAGS, *flags)
    job_id = uw.dispatch(task)
    [line] = wait_until(lambda: uw.lines("cancel"), f"{task} to start")
    _, started, pid = line.split()
    assert started == job_id

    document = uw.app.cancel(job_id)

    assert document["status"] == "cancelled"
    return worker, job_id, int(pid)


def test_a_cancelled_pending_job_never_runs(uw: Harness) -> None:
    cancelled = uw.dispatch("record", label="cancelled")
    kept = uw.dispatch("record", label="kept")
    uw.app.cancel(cancelled)
    worker = uw.worker("--processes", "1", "--concurrency", "1", "--burst")

    assert worker.wait() == 0, worker.log()
    assert uw.lines("effects") == ["kept"]
    assert uw.get(kept)["status"] == "completed"
    document = uw.get(cancelled)
    assert document["status"] == "cancelled"
    assert document["attempts"] == 0
    assert document["started_at"] is None


def test_a_running_async_task_is_cancelled(uw: Harness) -> None:
    worker, job_id, pid = start_and_cancel(uw, "cancellable")

    wait_until(lambda: f"stopped {job_id}" in uw.lines("cancel"), "the task to be cancelled")
    worker.wait_for_log("stopped: it was cancelled or taken over")
    assert uw.get(job_id)["status"] == "cancelled"
    # Cancelled on its loop: the process lives on and runs the next job.
    assert uw.wait(uw.dispatch("record"))["result"] == pid
    assert "killing its process" not in worker.log()


def test_a_running_plain_task_that_checks_job_cancelled_stops(uw: Harness) -> None:
    worker, job_id, pid = start_and_cancel(uw, "polite")

    wait_until(lambda: f"stopped {job_id}" in uw.lines("cancel"), "the task to see the cancel")
    worker.wait_for_log("stopped: it was cancelled or taken over")
    document = uw.get(job_id)
    assert document["status"] == "cancelled"
    assert document["result"] is None
    assert uw.wait(uw.dispatch("record"))["result"] == pid
    assert "killing its process" not in worker.log()


def test_a_running_plain_task_that_ignores_the_cancel_is_killed_after_the_grace(
    uw: Harness,
) -> None:
    worker, job_id, pid = start_and_cancel(uw, "stubborn", "--grace", "1")

    worker.wait_for_log(f"stubborn[{job_id}] ignored its cancel; killing its process")
    wait_until(lambda: gone(pid), "the task's process to be killed")
    assert uw.get(job_id)["status"] == "cancelled"
    assert f"stopped {job_id}" not in uw.lines("cancel")
    # A new process took the killed one's place.
    next_pid = uw.wait(uw.dispatch("record"))["result"]
    assert next_pid != pid
