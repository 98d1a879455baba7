"""A job whose task the worker's app does not know fails with a clear error, and the worker
goes on."""

from __future__ import annotations

import pytest

from .conftest import Harness

pytestmark = pytest.mark.slow


def test_a_job_of_an_unknown_task_fails_clearly_and_the_worker_goes_on(uw: Harness) -> None:
    # Known where it is dispatched (a newer deploy, say), not in the worker's copy of the app.
    uw.app.task("reports.ghost", tries=3)(lambda: None)
    ghost = uw.dispatch("reports.ghost")
    after = uw.dispatch("record")
    worker = uw.worker("--processes", "1", "--concurrency", "1", "--sleep", "0.1")

    document = uw.wait(ghost)
    assert uw.wait(after)["status"] == "completed"

    assert document["status"] == "failed"
    assert document["error"] == (
        "UnknownTask: no task named 'reports.ghost' is registered in this worker's app"
    )
    assert document["attempts"] == 1  # retrying cannot help: no further tries are spent
    assert "reports.ghost" in worker.log()
    assert worker.popen.poll() is None
