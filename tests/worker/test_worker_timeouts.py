"""A task past its time-out is stopped and its job fails with "timed out after N s"; the worker
goes on with the next job. A plain or loop-blocking task costs its process; an awaiting one is
cancelled and its process lives on."""

from __future__ import annotations

import pytest

from .conftest import Harness, gone

pytestmark = pytest.mark.slow

ONE_SLOT = ("--processes", "1", "--concurrency", "1", "--burst")


def run_after(uw: Harness, task: str) -> tuple[dict, dict, int]:
    """Run `task` (time-out 1 s, asked to sleep 60 s), then a quick job, in one burst worker.
    Returns both status documents and the pid `task` ran in."""
    slow = uw.dispatch(task, seconds=60)
    quick = uw.dispatch("record")
    worker = uw.worker(*ONE_SLOT)
    assert worker.wait() == 0, worker.log()
    [line] = uw.lines("pids")
    name, pid = line.split()
    assert name == task
    return uw.get(slow), uw.get(quick), int(pid)


def test_a_plain_task_past_its_timeout_is_killed_and_the_worker_goes_on(uw: Harness) -> None:
    slow = uw.dispatch("sleepy", seconds=60)
    neighbour = uw.dispatch("steady", seconds=2)  # shares the child that is killed
    quick = uw.dispatch("record")
    worker = uw.worker("--processes", "1", "--concurrency", "2", "--burst")

    assert worker.wait() == 0, worker.log()
    [line] = uw.lines("pids")
    pid = int(line.split()[1])
    document = uw.get(slow)
    assert document["status"] == "failed"
    assert document["error"] == "TimeoutError: timed out after 1 s"
    assert document["errors"] == ["attempt 1: TimeoutError: timed out after 1 s"]
    assert gone(pid)
    # The killed child's other job went back to pending uncharged, then ran again.
    assert uw.lines("started") == [neighbour, neighbour]
    assert uw.get(neighbour)["status"] == "completed"
    assert uw.get(neighbour)["attempts"] == 1
    assert uw.get(quick)["status"] == "completed"
    assert uw.get(quick)["result"] != pid


def test_an_async_task_blocking_its_loop_past_its_timeout_is_killed(uw: Harness) -> None:
    slow, quick, pid = run_after(uw, "async_blocker")

    assert slow["status"] == "failed"
    assert slow["error"] == "TimeoutError: timed out after 1 s"
    assert quick["status"] == "completed"
    assert quick["result"] != pid
    assert gone(pid)


def test_an_async_task_awaiting_past_its_timeout_is_cancelled_in_place(uw: Harness) -> None:
    slow, quick, pid = run_after(uw, "async_awaiter")

    assert slow["status"] == "failed"
    assert slow["error"] == "TimeoutError: timed out after 1 s"
    assert quick["status"] == "completed"
    assert quick["result"] == pid  # cancelled cleanly: no process was killed
    assert "killing its process" not in uw.workers[0].log()
