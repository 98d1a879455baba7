"""A child process whose memory passes --memory after a job finishes its other jobs and is
replaced; no job is lost."""

from __future__ import annotations

import pytest

from .conftest import Harness, gone

pytestmark = pytest.mark.slow


def test_a_child_over_the_memory_limit_is_replaced_after_its_jobs(uw: Harness) -> None:
    # Both slots of the one child: a job still running when its neighbour leaks 150 MB.
    neighbour = uw.dispatch("steady", seconds=0.5)
    fat = uw.dispatch("leak", mb=150)
    after = [uw.dispatch("record") for _ in range(5)]
    worker = uw.worker("--processes", "1", "--concurrency", "2", "--memory", "100", "--burst")

    assert worker.wait() == 0, worker.log()

    leaked_in = uw.get(fat)["result"]
    assert uw.get(fat)["status"] == "completed"
    assert uw.get(neighbour)["status"] == "completed"
    documents = [uw.get(job_id) for job_id in after]
    assert [d["status"] for d in documents] == ["completed"] * len(after)
    assert sorted(uw.lines("effects")) == sorted(after)
    assert leaked_in not in {d["result"] for d in documents}
    assert gone(leaked_in)
    assert f"child {leaked_in} uses" in worker.log()
    assert "exited unexpectedly" not in worker.log()
