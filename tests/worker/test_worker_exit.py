"""A worker started for a bounded run ends by itself with exit code 0: --burst once no job is
ready, --max-jobs after that many jobs, --max-time after that many seconds."""

from __future__ import annotations

import pytest

from .conftest import Harness

pytestmark = pytest.mark.slow

ONE_SLOT = ("--processes", "1", "--concurrency", "1")


def test_burst_exits_0_once_no_job_is_ready(uw: Harness) -> None:
    ids = [uw.dispatch("record") for _ in range(10)]
    delayed = uw.app.dispatch("record", {"label": "delayed"}, delay=3600)
    worker = uw.worker(*ONE_SLOT, "--burst")

    assert worker.wait() == 0, worker.log()
    assert [uw.get(job_id)["status"] for job_id in ids] == ["completed"] * 10
    assert uw.get(delayed)["status"] == "pending"
    assert "burst: no job is ready; exiting" in worker.log()


def test_burst_on_an_empty_queue_exits_0(uw: Harness) -> None:
    worker = uw.worker(*ONE_SLOT, "--burst")

    assert worker.wait() == 0, worker.log()


def test_max_jobs_exits_0_after_that_many_jobs(uw: Harness) -> None:
    ids = [uw.dispatch("record") for _ in range(5)]
    worker = uw.worker(*ONE_SLOT, "--max-jobs", "3")

    assert worker.wait() == 0, worker.log()
    statuses = [uw.get(job_id)["status"] for job_id in ids]
    assert statuses == ["completed"] * 3 + ["pending"] * 2
    assert [uw.get(job_id)["attempts"] for job_id in ids[3:]] == [0, 0]


def test_max_time_exits_0_with_nothing_to_do(uw: Harness) -> None:
    worker = uw.worker(*ONE_SLOT, "--max-time", "1")

    assert worker.wait() == 0, worker.log()
    assert "stopped after 0 jobs" in worker.log()
