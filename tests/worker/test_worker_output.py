"""Live output and the rate through a real worker: a task streams text in pieces while it
advances; the output is readable while it runs and whole once it ends, and the rate is known."""

from __future__ import annotations

import pytest

from .conftest import Harness, wait_until

pytestmark = pytest.mark.slow

LINES = 10


def lines(first: int, last: int) -> str:
    return "".join(f"line {i}: ✓ é 😀\n" for i in range(first, last + 1))


def test_streamed_output_and_rate_through_a_worker(uw: Harness) -> None:
    # Four pauses of 0.3 s come before the fifth line's write: the rate has a second to go on.
    job_id = uw.dispatch("streamer", lines=LINES, pause=0.3)
    worker = uw.worker("--processes", "1", "--concurrency", "1", "--burst")
    half = lines(1, LINES // 2)

    # The task waits for "go" with half its lines streamed, more than a second after it began.
    running = wait_until(
        lambda: (
            (d := uw.get(job_id))["status"] == "processing"
            and d["output_length"] == len(half)
            and d["progress"]["rate_per_s"] is not None
            and d
        ),
        "the first half of the output and a rate",
    )
    assert uw.app.output(job_id) == half
    assert running["progress"]["processed"] == LINES // 2
    rate = running["progress"]["rate_per_s"]
    assert rate > 0
    # Seconds left at that rate for the other half, as the document computes it.
    assert running["progress"]["eta_s"] == pytest.approx((LINES - LINES // 2) / rate, abs=0.1)

    (uw.folder / "go").touch()
    assert worker.wait() == 0, worker.log()
    whole = lines(1, LINES)
    document = uw.get(job_id)
    assert document["status"] == "completed", document
    assert document["result"] == len(whole)  # the task's own count agrees with the store's
    assert document["output_length"] == len(whole)
    assert uw.app.output(job_id) == whole
    assert uw.app.output(job_id, offset=len(half), limit=5) == whole[len(half) : len(half) + 5]
    assert document["progress"]["rate_per_s"] is not None
    assert document["progress"]["eta_s"] is None  # finished: nothing left to estimate
