"""A failing task is retried up to its tries, after an exponential, capped, jittered backoff, and
every failure's error is kept."""

from __future__ import annotations

import random

import pytest

from underway.retry import backoff_delay
from underway.settings import BACKOFF_CAP_SECONDS

from .conftest import Harness


@pytest.mark.slow
def test_a_task_failing_twice_with_three_tries_completes_on_the_third(uw: Harness) -> None:
    job_id = uw.dispatch("flaky")
    worker = uw.worker("--processes", "1", "--concurrency", "1", "--sleep", "0.05")

    document = uw.wait(job_id)

    assert document["status"] == "completed", document
    assert document["result"] == 3
    assert document["attempts"] == 3
    assert document["max_attempts"] == 3
    assert document["error"] is None
    assert document["errors"] == [
        "attempt 1: RuntimeError: failure number 1",
        "attempt 2: RuntimeError: failure number 2",
    ]
    log = worker.log()
    assert "failure number 1; retry 2/3 in" in log
    assert "failure number 2; retry 3/3 in" in log


@pytest.mark.slow
def test_the_workers_tries_raise_a_jobs_allowance(uw: Harness) -> None:
    job_id = uw.dispatch("flaky_once")
    uw.worker("--processes", "1", "--concurrency", "1", "--sleep", "0.05", "--tries", "3")

    document = uw.wait(job_id)

    assert (document["status"], document["result"]) == ("completed", 3), document
    assert (document["attempts"], document["max_attempts"]) == (3, 3)


def test_backoff_doubles_with_each_retry() -> None:
    # rand=0.5 is the middle of the jitter: exactly backoff * 2**(attempt-1).
    assert [backoff_delay(1.5, attempt, 0.5) for attempt in (1, 2, 3, 4)] == [1.5, 3.0, 6.0, 12.0]
    assert backoff_delay(0.0, 5, 0.5) == 0.0


def test_backoff_is_capped() -> None:
    assert backoff_delay(1.0, 100, 0.5) == BACKOFF_CAP_SECONDS
    assert backoff_delay(60.0, 1000, 0.5) == BACKOFF_CAP_SECONDS


def test_backoff_is_capped_for_any_number_of_tries() -> None:
    assert backoff_delay(1.0, 1100, 0.5) == BACKOFF_CAP_SECONDS


def test_backoff_jitter_stays_within_a_quarter_either_side() -> None:
    assert backoff_delay(2.0, 3, 0.0) == 0.75 * 8.0
    assert backoff_delay(2.0, 3, 1.0) == 1.25 * 8.0
    random.seed(1234)
    delays = [backoff_delay(2.0, 3) for _ in range(1000)]
    assert all(6.0 <= delay <= 10.0 for delay in delays)
    assert len(set(delays)) > 900  # jittered, so that failed jobs do not return in a herd
