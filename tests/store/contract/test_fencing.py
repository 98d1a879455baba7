"""Fencing: writes by a worker or attempt that no longer holds the job change nothing."""

from __future__ import annotations

import pytest

from underway.model import JobRecord, Status
from underway.store import (
    Lease,
    Outcome,
    ProgressWrite,
    Store,
)

from .helpers import (
    LEASE,
    NOW,
    claim_one,
    enqueue,
    finish,
    get,
    worker_info,
)

# -- fencing ---------------------------------------------------------------------------------

FENCES = pytest.mark.parametrize(
    ("worker", "attempt_shift"),
    [("w2", 0), ("w1", 1), ("w1", -1)],
    ids=["wrong-worker", "attempt-ahead", "attempt-behind"],
)


def fenced_job(store: Store) -> tuple[str, Lease, JobRecord]:
    """A job on its second attempt held by w1, with some progress, and its record."""
    job_id = enqueue(store, max_attempts=3)
    first = claim_one(store, job_id)
    store.job_finish("w1", [Outcome(first, Status.PENDING, NOW + 1, error="E: 1", retry_at=NOW)])
    lease = claim_one(store, job_id, now=NOW + 2)
    assert lease.attempt == 2
    write = ProgressWrite(lease, total=5, processed=1, results=[{"item": 1}], checkpoint=1)
    write.has_checkpoint = True
    assert store.job_write_progress("w1", [write]) == []
    return job_id, lease, get(store, job_id)


@FENCES
def test_fenced_progress_write_is_refused_and_changes_nothing(
    store: Store, worker: str, attempt_shift: int
) -> None:
    job_id, lease, before = fenced_job(store)
    bad = Lease(job_id, lease.attempt + attempt_shift)
    write = ProgressWrite(
        bad,
        total=99,
        processed=98,
        current="zombie",
        usage={"tokens": 1},
        results=[{"item": "zombie"}],
        errors=["zombie error"],
        checkpoint="zombie",
        has_checkpoint=True,
    )
    assert store.job_write_progress(worker, [write]) == [job_id]
    assert get(store, job_id) == before


@FENCES
@pytest.mark.parametrize("status", [Status.COMPLETED, Status.FAILED, Status.PENDING])
def test_fenced_finish_is_refused_and_changes_nothing(
    store: Store, worker: str, attempt_shift: int, status: Status
) -> None:
    job_id, lease, before = fenced_job(store)
    bad = Lease(job_id, lease.attempt + attempt_shift)
    progress = ProgressWrite(bad, total=99, processed=99, results=[{"item": "zombie"}])
    outcome = Outcome(
        bad,
        status,
        NOW + 5,
        result="zombie",
        error="E: zombie",
        retry_at=NOW + 6 if status == Status.PENDING else None,
        progress=progress,
    )
    assert store.job_finish(worker, [outcome]) == [job_id]
    assert get(store, job_id) == before


@FENCES
def test_fenced_release_changes_nothing(store: Store, worker: str, attempt_shift: int) -> None:
    job_id, lease, before = fenced_job(store)
    store.job_release(worker, [Lease(job_id, lease.attempt + attempt_shift)], NOW + 5)
    assert get(store, job_id) == before


def test_a_worker_that_lost_its_lease_cannot_overwrite_its_successor(store: Store) -> None:
    job_id = enqueue(store, max_attempts=3)
    zombie = claim_one(store, job_id, worker="w1")
    assert store.lease_rescue(NOW + LEASE + 1) == [(job_id, Status.PENDING)]
    successor = claim_one(store, job_id, worker="w2", now=NOW + LEASE + 1)
    assert successor.attempt == 2

    late = ProgressWrite(zombie, processed=1, results=[{"late": True}])
    assert store.job_write_progress("w1", [late]) == [job_id]
    assert store.job_heartbeat(worker_info("w1"), [zombie], LEASE, NOW + 40) == set()
    assert finish(store, zombie, Status.COMPLETED, result="zombie") == [job_id]

    assert finish(store, successor, Status.COMPLETED, worker="w2", result="real") == []
    record = get(store, job_id)
    assert (record.status, record.result, record.attempts) == (Status.COMPLETED, "real", 2)
    assert record.results == ()


def test_writes_to_a_cancelled_job_are_refused(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    store.job_cancel(job_id, NOW + 1)
    before = get(store, job_id)
    assert store.job_write_progress("w1", [ProgressWrite(lease, processed=3)]) == [job_id]
    assert finish(store, lease, Status.COMPLETED, result="late") == [job_id]
    store.job_release("w1", [lease], NOW + 2)
    assert get(store, job_id) == before
