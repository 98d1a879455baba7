"""A child that dies before it is ready is replaced, unless children keep failing to start: then
the task module cannot be imported, and the worker stops with exit code 1 and says so.

The tasks module sleeps (or fails) at import in the worker's children only, as the environment
asks, so that a child is reliably caught while it starts. The backend plays no part: SQLite only.
"""

from __future__ import annotations

import os
import signal

import pytest

from .conftest import Harness, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def url(sqlite_url: str) -> str:
    return sqlite_url


def test_a_child_killed_while_it_starts_is_replaced(
    uw: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_TASKS_CHILD_IMPORT_SLEEP", "1.5")
    worker = uw.worker("--processes", "1", "--concurrency", "1", "--sleep", "0.1")
    (starting,) = worker.runner_pids(1)
    os.kill(starting, signal.SIGKILL)
    wait_until(
        lambda: "before it was ready" in worker.log() or worker.popen.poll() is not None,
        "the worker to notice its child's death",
    )
    assert worker.popen.poll() is None, worker.log()

    job_id = uw.dispatch("record")
    assert uw.wait(job_id)["status"] == "completed", worker.log()
    assert uw.get(job_id)["result"] != starting
    worker.send(signal.SIGTERM)
    assert worker.wait() == 0, worker.log()
    assert f"child {starting} exited before it was ready (code -9); starting another" in (
        worker.log()
    )


def test_children_that_cannot_import_the_tasks_stop_the_worker(
    uw: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_TASKS_CHILD_IMPORT_FAILS", "1")
    job_id = uw.dispatch("record")
    worker = uw.worker("--processes", "2", "--concurrency", "1")

    assert worker.wait() == 1, worker.log()
    log = worker.log()
    assert "could not start 3 times in a row (code 1); stopping" in log, log
    assert "RuntimeError: worker_tasks cannot be imported in a child" in log
    assert uw.get(job_id)["status"] == "pending"
