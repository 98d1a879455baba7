"""Cancel and retry, asked for by a person, from each state."""

from __future__ import annotations

import pytest

from underway.errors import InvalidTransition, JobNotFound
from underway.ids import new_job_id
from underway.model import Status
from underway.store import (
    Lease,
    Outcome,
    ProgressWrite,
    Store,
)

from .helpers import (
    LEASE,
    NOW,
    claim,
    claim_one,
    end,
    enqueue,
    finish,
    get,
)

# -- cancel ----------------------------------------------------------------------------------


def test_cancel_a_pending_job(store: Store) -> None:
    job_id = enqueue(store)
    record = store.job_cancel(job_id, NOW + 3)
    assert record.id == job_id
    assert (record.status, record.completed_at) == (Status.CANCELLED, NOW + 3)
    assert get(store, job_id) == record
    assert claim(store, now=NOW + 10) == []


def test_cancel_a_processing_job(store: Store) -> None:
    job_id = enqueue(store)
    claim_one(store, job_id)
    record = store.job_cancel(job_id, NOW + 3)
    assert (record.status, record.completed_at, record.lease_expires_at) == (
        Status.CANCELLED,
        NOW + 3,
        None,
    )
    assert store.lease_rescue(NOW + 10_000) == []


@pytest.mark.parametrize("ending", [Status.COMPLETED, Status.FAILED, Status.CANCELLED])
def test_cancel_a_finished_job_is_an_invalid_transition(store: Store, ending: Status) -> None:
    job_id = enqueue(store)
    end(store, job_id, ending)
    before = get(store, job_id)
    with pytest.raises(InvalidTransition, match=job_id):
        store.job_cancel(job_id, NOW + 10)
    assert get(store, job_id) == before


def test_cancel_an_unknown_job(store: Store) -> None:
    with pytest.raises(JobNotFound):
        store.job_cancel(new_job_id(), NOW)


# -- retry -----------------------------------------------------------------------------------


def test_retry_a_failed_job_with_fresh_tries_keeping_its_checkpoint(store: Store) -> None:
    job_id = enqueue(store, max_attempts=2)
    for attempt in (1, 2):
        lease = claim_one(store, job_id)
        assert lease.attempt == attempt
        status = Status.PENDING if attempt == 1 else Status.FAILED
        write = ProgressWrite(lease, processed=attempt, checkpoint={"at": attempt})
        write.has_checkpoint = True
        outcome = Outcome(lease, status, NOW + 1, error=f"E: {attempt}", progress=write)
        assert store.job_finish("w1", [outcome]) == []
    assert get(store, job_id).status == Status.FAILED

    record = store.job_retry(job_id, NOW + 50)
    assert record.status == Status.PENDING
    assert record.attempts == 2
    assert record.max_attempts == 4
    assert record.available_at == NOW + 50
    assert (record.completed_at, record.lease_expires_at, record.result) == (None, None, None)
    assert record.checkpoint == {"at": 2}
    assert record.errors == ("attempt 1: E: 1", "attempt 2: E: 2")
    assert get(store, job_id) == record

    # the fresh allowance is two tries: the third attempt may retry, the fourth may not
    third = claim_one(store, job_id, now=NOW + 50)
    assert third.attempt == 3
    assert store.job_finish("w1", [Outcome(third, Status.PENDING, NOW + 51, error="E: 3")]) == []
    fourth = claim_one(store, job_id, now=NOW + 60)
    assert fourth.attempt == 4
    assert store.lease_rescue(NOW + 60 + LEASE + 1) == [(job_id, Status.FAILED)]


def test_retry_a_cancelled_job(store: Store) -> None:
    job_id = enqueue(store, max_attempts=3)
    store.job_cancel(job_id, NOW + 1)
    record = store.job_retry(job_id, NOW + 2)
    assert (record.status, record.attempts, record.max_attempts) == (Status.PENDING, 0, 3)
    assert record.completed_at is None
    assert claim(store, now=NOW + 2) == [job_id]


def test_retry_after_a_lost_lease_fails_only_when_the_new_tries_are_spent(store: Store) -> None:
    job_id = enqueue(store, max_attempts=1)
    claim_one(store, job_id)
    assert store.lease_rescue(NOW + LEASE + 1) == [(job_id, Status.FAILED)]
    store.job_retry(job_id, NOW + 100)
    claim_one(store, job_id, now=NOW + 100)
    assert store.lease_rescue(NOW + 100 + LEASE + 1) == [(job_id, Status.FAILED)]
    assert get(store, job_id).attempts == 2


@pytest.mark.parametrize("state", ["pending", "processing", "completed"])
def test_retry_of_a_job_that_is_not_failed_or_cancelled(store: Store, state: str) -> None:
    job_id = enqueue(store)
    if state != "pending":
        lease = claim_one(store, job_id)
        if state == "completed":
            finish(store, lease, Status.COMPLETED, result="r")
    before = get(store, job_id)
    with pytest.raises(InvalidTransition, match=job_id):
        store.job_retry(job_id, NOW + 10)
    assert get(store, job_id) == before


def test_retry_an_unknown_job(store: Store) -> None:
    with pytest.raises(JobNotFound):
        store.job_retry(new_job_id(), NOW)


@pytest.mark.parametrize("holder_state", ["pending", "processing"])
def test_retry_while_another_active_job_holds_its_unique_key(
    store: Store, holder_state: str
) -> None:
    old = enqueue(store, unique_key="weave:1")
    end(store, old, Status.FAILED)
    holder = enqueue(store, unique_key="weave:1")
    if holder_state == "processing":
        claim_one(store, holder, worker="w9")
    before = get(store, old)
    with pytest.raises(InvalidTransition, match=old):
        store.job_retry(old, NOW + 10)
    assert get(store, old) == before
    assert get(store, holder).status == Status(holder_state)
    # once the holder is done, the retry goes through
    if holder_state == "pending":
        store.job_cancel(holder, NOW + 11)
    else:
        finish(store, Lease(holder, 1), Status.COMPLETED, worker="w9")
    assert store.job_retry(old, NOW + 12).status == Status.PENDING
