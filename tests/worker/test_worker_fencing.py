"""Every write of an attempt is fenced by its lease: a worker that lost its lease (paused,
partitioned) cannot change the job that another attempt took over."""

from __future__ import annotations

import signal

import pytest

from .conftest import Harness, wait_until

pytestmark = pytest.mark.slow

STEPS = 6


def test_a_paused_worker_late_writes_are_refused_and_logged(uw: Harness) -> None:
    job_id = uw.dispatch("fenced", steps=STEPS, step=0.3)
    first = uw.worker("--processes", "1", "--concurrency", "1", "--lease", "1.5")
    wait_until(lambda: (uw.checkpoint(job_id) or 0) >= 2, "two steps checkpointed by the first")

    # The supervisor stops; its child goes on with the task, and its writes queue in the pipe.
    uw.pause(first)
    second = uw.worker("--processes", "1", "--concurrency", "1", "--lease", "1.5", "--sleep", "0.1")
    done = uw.wait(job_id)
    assert done["status"] == "completed", done
    assert done["attempts"] == 2
    assert done["result"] == {"attempt": 2}
    assert f"job {job_id} lost its worker; now pending" in second.log()

    first.send(signal.SIGCONT)
    wait_until(
        lambda: (
            "outcome refused" in first.log()
            or "stopped: it was cancelled or taken over" in first.log()
        ),
        "the first worker to give up the job",
    )
    log = first.log()
    assert f"job {job_id}: checkpoint refused" in log, log
    # The zombie changed nothing: the stored job is exactly what the second attempt left.
    assert uw.get(job_id) == done
    attempts = [result["attempt"] for result in done["results"]]
    assert attempts == sorted(attempts)
    assert [r["step"] for r in done["results"] if r["attempt"] == 2][-1] == STEPS - 1
    assert done["progress"]["current"] == f"attempt 2 step {STEPS - 1}"
