"""Claim: priority, FIFO, limits, delays, queues in order, minimum tries, claim one."""

from __future__ import annotations

import pytest

from underway.ids import new_job_id
from underway.model import Status
from underway.store import (
    ClaimRequest,
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
    get,
    statuses,
)

# -- claim -----------------------------------------------------------------------------------


def test_finish_and_claim_ends_attempts_and_claims_in_one_call(store: Store) -> None:
    first, second, waiting = enqueue(store), enqueue(store), enqueue(store)
    lease = claim_one(store, first)
    stale = Lease(claim_one(store, second).job_id, 99)
    outcomes = [
        Outcome(lease, Status.COMPLETED, NOW + 1, result={"ok": True}),
        Outcome(stale, Status.COMPLETED, NOW + 1),
    ]
    request = ClaimRequest(queues=[], limit=5, lease_seconds=LEASE, now=NOW + 1)
    refused, claimed = store.job_finish_and_claim("w1", outcomes, request)
    assert refused == [second]
    assert [record.id for record in claimed] == [waiting]
    assert get(store, first).status == Status.COMPLETED
    assert get(store, first).result == {"ok": True}
    assert get(store, second).status == Status.PROCESSING
    assert get(store, waiting).worker_id == "w1"


def test_claim_moves_to_processing_and_charges_an_attempt(store: Store) -> None:
    job_id = enqueue(store, max_attempts=3)
    [record] = store.job_claim("w1", ClaimRequest([], 5, LEASE, NOW + 2))
    assert record.id == job_id
    assert record.status == Status.PROCESSING
    assert record.attempts == 1
    assert record.worker_id == "w1"
    assert record.started_at == NOW + 2
    assert record.lease_expires_at == NOW + 2 + LEASE
    stored = get(store, job_id)
    assert (stored.status, stored.attempts, stored.worker_id) == (Status.PROCESSING, 1, "w1")
    assert stored.lease_expires_at == NOW + 2 + LEASE
    # nothing left to claim
    assert claim(store, now=NOW + 2) == []


@pytest.mark.parametrize("queues", [(), ("default",)], ids=["all-queues", "one-queue"])
def test_claim_takes_higher_priority_first_then_oldest(
    store: Store, queues: tuple[str, ...]
) -> None:
    low_old = enqueue(store, priority=0)
    high_old = enqueue(store, priority=5)
    negative = enqueue(store, priority=-1)
    low_new = enqueue(store, priority=0)
    high_new = enqueue(store, priority=5)
    expected = [high_old, high_new, low_old, low_new, negative]

    assert claim(store, queues=queues, limit=10) == expected


@pytest.mark.parametrize("queues", [(), ("default",)], ids=["all-queues", "one-queue"])
def test_claim_one_at_a_time_follows_priority_then_fifo(
    store: Store, queues: tuple[str, ...]
) -> None:
    ids = [enqueue(store, priority=p) for p in (1, 3, 1, 3, 2)]
    expected = [ids[1], ids[3], ids[4], ids[0], ids[2]]
    got = [claim(store, queues=queues, limit=1) for _ in expected]
    assert got == [[job_id] for job_id in expected]
    assert claim(store, queues=queues, limit=1) == []


def test_claim_respects_limit(store: Store) -> None:
    ids = [enqueue(store) for _ in range(5)]
    assert claim(store, limit=2) == ids[:2]
    assert [s for s in statuses(store).values() if s == Status.PENDING] == [Status.PENDING] * 3
    assert claim(store, limit=0) == []
    assert claim(store, limit=10) == ids[2:]


def test_claim_skips_jobs_not_yet_available(store: Store) -> None:
    later = enqueue(store, priority=9, available_at=NOW + 10)
    ready = enqueue(store, priority=0)
    assert claim(store, now=NOW) == [ready]
    assert claim(store, now=NOW + 9.5) == []
    assert get(store, later).status == Status.PENDING
    assert claim(store, now=NOW + 10) == [later]


def test_claim_filters_by_queue(store: Store) -> None:
    a = enqueue(store, queue="a")
    b = enqueue(store, queue="b")
    enqueue(store, queue="c")
    assert claim(store, queues=("b",)) == [b]
    assert claim(store, queues=("missing",)) == []
    assert claim(store, queues=("a", "b")) == [a]
    assert len(claim(store)) == 1  # the job in queue c


def test_claim_tries_queues_in_the_given_order(store: Store) -> None:
    low_1 = enqueue(store, queue="low", priority=10)
    high_1 = enqueue(store, queue="high", priority=0)
    low_2 = enqueue(store, queue="low", priority=20)
    high_2 = enqueue(store, queue="high", priority=1)
    # every job of the first queue comes before any job of the second, whatever the priority
    assert claim(store, queues=("high", "low"), limit=3) == [high_2, high_1, low_2]
    assert claim(store, queues=("high", "low"), limit=3) == [low_1]


def test_claim_with_no_queues_takes_all_queues_by_priority(store: Store) -> None:
    a = enqueue(store, queue="a", priority=1)
    b = enqueue(store, queue="b", priority=2)
    c = enqueue(store, queue="c", priority=1)
    assert claim(store, queues=()) == [b, a, c]


def test_claimed_record_carries_progress_usage_and_checkpoint(store: Store) -> None:
    job_id = enqueue(store, max_attempts=2)
    lease = claim_one(store, job_id)
    write = ProgressWrite(
        lease,
        total=10,
        processed=4,
        current="item 4",
        usage={"tokens": 300, "cost": 0.25},
        checkpoint={"next": 4},
        has_checkpoint=True,
    )
    assert store.job_write_progress("w1", [write]) == []
    store.job_release("w1", [lease], NOW + 1)

    [record] = store.job_claim("w2", ClaimRequest([], 1, LEASE, NOW + 1))
    assert record.id == job_id
    assert (record.progress_total, record.progress_processed) == (10, 4)
    assert record.progress_current == "item 4"
    assert record.usage == {"tokens": 300, "cost": 0.25}
    assert record.checkpoint == {"next": 4}


def test_claim_raises_the_allowance_of_tries_to_the_workers_minimum(store: Store) -> None:
    few = enqueue(store, max_attempts=1)
    many = enqueue(store, max_attempts=5)
    assert sorted(claim(store, min_tries=3)) == sorted([few, many])
    assert get(store, few).max_attempts == 3
    assert get(store, many).max_attempts == 5


def test_claim_one_takes_only_a_pending_job(store: Store) -> None:
    job_id = enqueue(store)
    record = store.job_claim_one("eager-1", job_id, LEASE, NOW)
    assert record is not None
    assert (record.status, record.attempts, record.worker_id) == (Status.PROCESSING, 1, "eager-1")
    assert record.lease_expires_at == NOW + LEASE
    assert store.job_claim_one("eager-2", job_id, LEASE, NOW) is None
    assert get(store, job_id).worker_id == "eager-1"
    assert store.job_claim_one("eager-1", new_job_id(), LEASE, NOW) is None


def test_claim_one_does_not_take_a_finished_job(store: Store) -> None:
    job_id = enqueue(store)
    end(store, job_id, Status.COMPLETED)
    assert store.job_claim_one("w1", job_id, LEASE, NOW + 5) is None
    assert get(store, job_id).status == Status.COMPLETED
