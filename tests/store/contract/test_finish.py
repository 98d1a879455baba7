"""Finish: the outcomes of an attempt (completed, failed, cancelled, retried later)."""

from __future__ import annotations

from typing import Any

import pytest

from underway.model import Status
from underway.store import (
    Lease,
    Outcome,
    ProgressWrite,
    Store,
)

from .helpers import (
    NOW,
    claim,
    claim_one,
    enqueue,
    finish,
    get,
    statuses,
)

# -- finish ----------------------------------------------------------------------------------


def test_finish_completed_with_its_final_progress(store: Store) -> None:
    job_id = enqueue(store, max_attempts=2)
    lease = claim_one(store, job_id)
    store.job_write_progress("w1", [ProgressWrite(lease, total=2, processed=1, results=[{"n": 1}])])
    final = ProgressWrite(
        lease, total=2, processed=2, current=None, usage={"cost": 0.5}, results=[{"n": 2}]
    )
    report = {"title": "Weave", "sections": [1, 2], "score": 0.75}
    assert (
        finish(store, lease, Status.COMPLETED, finished_at=NOW + 7, result=report, progress=final)
        == []
    )

    record = get(store, job_id)
    assert record.status == Status.COMPLETED
    assert record.result == report
    assert record.completed_at == NOW + 7
    assert record.lease_expires_at is None
    assert (record.error, record.traceback) == (None, None)
    assert (record.progress_total, record.progress_processed) == (2, 2)
    assert record.usage == {"cost": 0.5}
    assert record.results == ({"n": 1}, {"n": 2})
    assert record.errors == ()
    assert record.attempts == 1


@pytest.mark.parametrize("result", [None, 0, "", [1, "two"], {"nested": {"ok": True}}, "text"])
def test_finish_round_trips_any_json_result(store: Store, result: Any) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    assert finish(store, lease, Status.COMPLETED, result=result) == []
    assert get(store, job_id).result == result


def test_finish_failed_keeps_error_traceback_and_an_error_entry(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    progress = ProgressWrite(lease, total=4, processed=2, errors=["item 2: skipped"])
    outcome = Outcome(
        lease,
        Status.FAILED,
        NOW + 3,
        error="ValueError: boom",
        traceback="Traceback (most recent call last):\n  ...\nValueError: boom\n",
        progress=progress,
    )
    assert store.job_finish("w1", [outcome]) == []
    record = get(store, job_id)
    assert record.status == Status.FAILED
    assert record.completed_at == NOW + 3
    assert record.lease_expires_at is None
    assert record.error == "ValueError: boom"
    assert record.traceback == outcome.traceback
    assert record.result is None
    assert record.progress_processed == 2
    assert record.errors == ("item 2: skipped", "attempt 1: ValueError: boom")


def test_finish_cancelled(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    assert finish(store, lease, Status.CANCELLED, finished_at=NOW + 4) == []
    record = get(store, job_id)
    assert (record.status, record.completed_at, record.lease_expires_at) == (
        Status.CANCELLED,
        NOW + 4,
        None,
    )


def test_finish_pending_retries_later_with_an_error_entry_per_failure(store: Store) -> None:
    job_id = enqueue(store, max_attempts=3)
    first = claim_one(store, job_id)
    outcome = Outcome(first, Status.PENDING, NOW + 1, error="IOError: flaky", retry_at=NOW + 10)
    assert store.job_finish("w1", [outcome]) == []

    record = get(store, job_id)
    assert record.status == Status.PENDING
    assert record.available_at == NOW + 10
    assert (record.completed_at, record.lease_expires_at) == (None, None)
    assert record.error == "IOError: flaky"
    assert record.attempts == 1
    assert claim(store, now=NOW + 9.5) == []

    second = claim_one(store, job_id, now=NOW + 10)
    assert second.attempt == 2
    outcome = Outcome(second, Status.PENDING, NOW + 11, error="IOError: again", retry_at=NOW + 20)
    assert store.job_finish("w1", [outcome]) == []
    third = claim_one(store, job_id, now=NOW + 20)
    assert finish(store, third, Status.COMPLETED, finished_at=NOW + 21, result=3) == []

    record = get(store, job_id)
    assert (record.status, record.attempts, record.result) == (Status.COMPLETED, 3, 3)
    assert record.error is None
    assert record.errors == ("attempt 1: IOError: flaky", "attempt 2: IOError: again")


def test_finish_batch_applies_what_it_can_and_returns_the_refused(store: Store) -> None:
    done, failed, stolen = enqueue(store), enqueue(store), enqueue(store)
    outcomes = [
        Outcome(claim_one(store, done), Status.COMPLETED, NOW + 1, result=1),
        Outcome(claim_one(store, failed), Status.FAILED, NOW + 1, error="E: x"),
        Outcome(Lease(claim_one(store, stolen, worker="w2").job_id, 1), Status.COMPLETED, NOW + 1),
    ]
    assert store.job_finish("w1", outcomes) == [stolen]
    assert statuses(store) == {
        done: Status.COMPLETED,
        failed: Status.FAILED,
        stolen: Status.PROCESSING,
    }


def test_finish_twice_is_refused(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    assert finish(store, lease, Status.COMPLETED, result="first") == []
    assert finish(store, lease, Status.FAILED, error="E: second") == [job_id]
    record = get(store, job_id)
    assert (record.status, record.result, record.errors) == (Status.COMPLETED, "first", ())
