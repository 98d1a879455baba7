"""Leases: heartbeat renews them, release gives a job back, rescue ends expired ones."""

from __future__ import annotations

from underway.model import Status
from underway.store import (
    ClaimRequest,
    ProgressWrite,
    Store,
)

from .helpers import (
    LEASE,
    NOW,
    claim,
    claim_one,
    enqueue,
    get,
    statuses,
    worker_info,
)

# -- heartbeat -------------------------------------------------------------------------------


def test_heartbeat_renews_leases_and_returns_held_ids(store: Store) -> None:
    a, b = enqueue(store), enqueue(store)
    leases = [claim_one(store, a), claim_one(store, b)]
    held = store.job_heartbeat(worker_info(last_seen_at=NOW + 20), leases, LEASE, NOW + 20)
    assert held == {a, b}
    assert get(store, a).lease_expires_at == NOW + 20 + LEASE
    assert get(store, b).lease_expires_at == NOW + 20 + LEASE
    # past the first lease, inside the renewed one: nothing to rescue
    assert store.lease_rescue(NOW + LEASE + 10) == []
    assert set(statuses(store).values()) == {Status.PROCESSING}


def test_heartbeat_does_not_return_a_cancelled_job(store: Store) -> None:
    kept, cancelled = enqueue(store), enqueue(store)
    leases = [claim_one(store, kept), claim_one(store, cancelled)]
    store.job_cancel(cancelled, NOW + 1)
    assert store.job_heartbeat(worker_info(), leases, LEASE, NOW + 2) == {kept}
    assert get(store, cancelled).status == Status.CANCELLED
    assert get(store, cancelled).lease_expires_at is None


def test_heartbeat_with_a_stale_attempt_neither_returns_nor_renews(store: Store) -> None:
    job_id = enqueue(store, max_attempts=3)
    old = claim_one(store, job_id)
    assert store.lease_rescue(NOW + LEASE + 1) == [(job_id, Status.PENDING)]
    new = claim_one(store, job_id, now=NOW + LEASE + 1)  # the same worker, a new attempt
    assert new.attempt == old.attempt + 1
    before = get(store, job_id)
    assert store.job_heartbeat(worker_info(), [old], LEASE, NOW + LEASE + 5) == set()
    assert get(store, job_id) == before


def test_heartbeat_of_another_worker_does_not_touch_the_job(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id, worker="w1")
    before = get(store, job_id)
    assert store.job_heartbeat(worker_info("w2"), [lease], LEASE, NOW + 10) == set()
    assert get(store, job_id) == before


def test_heartbeat_renews_only_the_leases_it_is_given(store: Store) -> None:
    """A job the worker no longer lists (it lost track of it) must run out of lease and be
    rescued, not stay processing for as long as the worker lives."""
    listed, forgotten = enqueue(store), enqueue(store, max_attempts=2)
    lease = claim_one(store, listed)
    claim_one(store, forgotten)
    assert store.job_heartbeat(worker_info(), [lease], LEASE, NOW + 20) == {listed}
    assert get(store, forgotten).lease_expires_at == NOW + LEASE
    assert store.lease_rescue(NOW + LEASE + 1) == [(forgotten, Status.PENDING)]


def test_heartbeat_with_no_leases_records_the_worker(store: Store) -> None:
    info = worker_info(last_seen_at=NOW)
    assert store.job_heartbeat(info, [], LEASE, NOW) == set()
    assert store.stats(NOW).workers == [info]


# -- release ---------------------------------------------------------------------------------


def test_release_puts_back_to_pending_without_charging_the_attempt(store: Store) -> None:
    job_id = enqueue(store, max_attempts=1)
    lease = claim_one(store, job_id)
    write = ProgressWrite(
        lease,
        total=8,
        processed=3,
        usage={"tokens": 5},
        results=[{"n": 1}],
        checkpoint={"at": 3},
        has_checkpoint=True,
    )
    store.job_write_progress("w1", [write])
    store.job_release("w1", [lease], NOW + 5)

    record = get(store, job_id)
    assert record.status == Status.PENDING
    assert record.attempts == 0
    assert (record.lease_expires_at, record.completed_at) == (None, None)
    assert record.available_at <= NOW + 5
    assert record.checkpoint == {"at": 3}
    assert (record.progress_total, record.progress_processed) == (8, 3)
    assert record.usage == {"tokens": 5}
    assert record.results == ({"n": 1},)
    assert record.errors == ()

    # still one try left, so it runs again right away
    again = claim_one(store, job_id, worker="w2", now=NOW + 5)
    assert again.attempt == 1
    assert get(store, job_id).max_attempts == 1


def test_release_many_at_once(store: Store) -> None:
    ids = [enqueue(store) for _ in range(3)]
    leases = [claim_one(store, job_id) for job_id in ids]
    store.job_release("w1", leases, NOW + 1)
    assert set(statuses(store).values()) == {Status.PENDING}
    assert claim(store, now=NOW + 1) == ids


# -- lease rescue ----------------------------------------------------------------------------


def test_lease_rescue_requeues_or_fails_expired_and_leaves_live_leases(store: Store) -> None:
    retried = enqueue(store, max_attempts=2)
    exhausted = enqueue(store, max_attempts=1)
    alive = enqueue(store, max_attempts=1)
    claim_one(store, retried, now=NOW)
    claim_one(store, exhausted, now=NOW)
    claim_one(store, alive, now=NOW + 20)
    before_alive = get(store, alive)

    rescued = store.lease_rescue(NOW + LEASE + 1)
    assert sorted(rescued) == sorted([(retried, Status.PENDING), (exhausted, Status.FAILED)])
    assert all(isinstance(status, Status) for _, status in rescued)

    record = get(store, retried)
    assert (record.status, record.attempts, record.lease_expires_at) == (Status.PENDING, 1, None)
    assert record.completed_at is None
    assert record.available_at <= NOW + LEASE + 1
    assert record.error is not None
    assert len(record.errors) == 1
    assert record.errors[0].startswith("attempt 1: ")

    record = get(store, exhausted)
    assert record.status == Status.FAILED
    assert record.completed_at == NOW + LEASE + 1
    assert record.lease_expires_at is None
    assert record.error is not None
    assert len(record.errors) == 1

    assert get(store, alive) == before_alive
    assert store.lease_rescue(NOW + LEASE + 1) == []

    again = claim_one(store, retried, worker="w2", now=NOW + LEASE + 1)
    assert again.attempt == 2


def test_lease_rescue_keeps_checkpoint_and_progress(store: Store) -> None:
    job_id = enqueue(store, max_attempts=2)
    lease = claim_one(store, job_id)
    write = ProgressWrite(lease, total=9, processed=4, checkpoint=[1, 2, 3, 4], has_checkpoint=True)
    store.job_write_progress("w1", [write])
    store.lease_rescue(NOW + LEASE + 1)
    [record] = store.job_claim("w2", ClaimRequest([], 1, LEASE, NOW + LEASE + 1))
    assert (record.checkpoint, record.progress_processed, record.attempts) == ([1, 2, 3, 4], 4, 2)


def test_lease_rescue_with_nothing_to_do(store: Store) -> None:
    enqueue(store)
    assert store.lease_rescue(NOW + 10_000) == []
    assert list(statuses(store).values()) == [Status.PENDING]
