"""The Store contract, written once and run against every backend.

Only Store methods are used here (no SQL), so a new backend passes this file unchanged or has a
bug. Times are explicit `now` values far from the wall clock, chosen to be exact in binary so
that every backend stores them without rounding.
"""

from __future__ import annotations

import json
import select
from collections.abc import Callable
from typing import Any

import pytest
from store_helpers import NOW, new_job

from underway.errors import InvalidTransition, JobNotFound
from underway.ids import new_job_id
from underway.model import JobRecord, NewJob, Status
from underway.states import TRANSITIONS
from underway.store import (
    ClaimRequest,
    Lease,
    Outcome,
    ProgressWrite,
    Store,
    WorkerInfo,
    open_store,
)

LEASE = 30.0


# -- helpers -------------------------------------------------------------------------------------


def enqueue(store: Store, **fields: Any) -> str:
    job = new_job(**fields)
    job_id = store.job_enqueue(job)
    assert job_id == job.id
    return job_id


def get(store: Store, job_id: str) -> JobRecord:
    record = store.job_get(job_id)
    assert record is not None, f"job {job_id} is gone"
    return record


def claim_one(store: Store, job_id: str, worker: str = "w1", now: float = NOW) -> Lease:
    record = store.job_claim_one(worker, job_id, LEASE, now)
    assert record is not None, f"job {job_id} could not be claimed"
    return Lease(record.id, record.attempts)


def claim(store: Store, *, queues: tuple[str, ...] = (), limit: int = 10, **kw: Any) -> list[str]:
    kw = {"lease_seconds": LEASE, "now": NOW, **kw}
    worker = kw.pop("worker", "w1")
    request = ClaimRequest(list(queues), limit, kw.pop("lease_seconds"), kw.pop("now"), **kw)
    return [r.id for r in store.job_claim(worker, request)]


def finish(
    store: Store, lease: Lease, status: Status, worker: str = "w1", **fields: Any
) -> list[str]:
    fields.setdefault("finished_at", NOW + 1)
    return store.job_finish(worker, [Outcome(lease, status, **fields)])


def worker_info(worker_id: str = "w1", **fields: Any) -> WorkerInfo:
    defaults: dict[str, Any] = {
        "hostname": "host-a",
        "pid": 4242,
        "queues": ("default", "reports"),
        "processes": 2,
        "concurrency": 4,
        "started_at": NOW - 100,
        "last_seen_at": NOW,
        "lease_seconds": LEASE,
        "running": 0,
    }
    return WorkerInfo(id=worker_id, **{**defaults, **fields})


def statuses(store: Store) -> dict[str, Status]:
    page = store.job_list(limit=1000)
    assert page.next_cursor is None
    return {job.id: job.status for job in page.jobs}


def end(store: Store, job_id: str, status: Status) -> None:
    """Bring a pending job to the given finished status."""
    if status == Status.CANCELLED:
        store.job_cancel(job_id, NOW + 1)
        return
    lease = claim_one(store, job_id)
    assert finish(store, lease, status, error="E: x" if status == Status.FAILED else None) == []


# -- enqueue and get -------------------------------------------------------------------------


def test_enqueue_then_get_round_trips_every_field(store: Store) -> None:
    args = {
        "entry_ids": ["a", "b"],
        "nested": {"n": 1, "f": 2.5, "none": None, "flag": True, "list": [1, [2, {"x": "y"}]]},
        "text": 'héllo ✓ 日本 "quoted" \\ back',
        "big": 2**53,
        "negative": -3,
        "empty": {},
    }
    job = new_job(
        task="reports.generate",
        queue="reports",
        args=args,
        priority=7,
        max_attempts=3,
        timeout=90.5,
        backoff=2.5,
        created_at=NOW,
        available_at=NOW + 0.5,
        owner="user-42",
        unique_key="report:42",
    )
    assert store.job_enqueue(job) == job.id

    assert store.job_get(job.id) == JobRecord(
        id=job.id,
        task="reports.generate",
        queue="reports",
        status=Status.PENDING,
        priority=7,
        args=args,
        attempts=0,
        max_attempts=3,
        timeout=90.5,
        backoff=2.5,
        created_at=NOW,
        available_at=NOW + 0.5,
        owner="user-42",
        unique_key="report:42",
    )


def test_enqueue_with_optional_fields_empty(store: Store) -> None:
    job_id = enqueue(store, owner=None, unique_key=None, timeout=None, args={})
    record = get(store, job_id)
    assert (record.owner, record.unique_key, record.timeout, record.args) == (None, None, None, {})
    assert (record.usage, record.results, record.errors, record.checkpoint) == ({}, (), (), None)


def test_get_unknown_job_is_none(store: Store) -> None:
    assert store.job_get(new_job_id()) is None


def test_unique_key_returns_the_pending_job(store: Store) -> None:
    first = enqueue(store, unique_key="fix-all:7")
    duplicate = new_job(unique_key="fix-all:7")
    assert store.job_enqueue(duplicate) == first
    assert store.job_get(duplicate.id) is None
    assert list(statuses(store)) == [first]


def test_unique_key_returns_the_processing_job(store: Store) -> None:
    first = enqueue(store, unique_key="fix-all:7")
    claim_one(store, first)
    duplicate = new_job(unique_key="fix-all:7")
    assert store.job_enqueue(duplicate) == first
    assert store.job_get(duplicate.id) is None


@pytest.mark.parametrize("ending", [Status.COMPLETED, Status.FAILED, Status.CANCELLED])
def test_unique_key_is_free_again_once_the_job_finished(store: Store, ending: Status) -> None:
    first = enqueue(store, unique_key="fix-all:7")
    end(store, first, ending)
    second = new_job(unique_key="fix-all:7")
    assert store.job_enqueue(second) == second.id
    assert get(store, second.id).status == Status.PENDING
    assert get(store, first).status == ending
    # and the new one now holds the key
    assert store.job_enqueue(new_job(unique_key="fix-all:7")) == second.id


def test_jobs_without_unique_key_or_with_other_keys_never_collide(store: Store) -> None:
    ids = {
        enqueue(store),
        enqueue(store),
        enqueue(store, unique_key="a"),
        enqueue(store, unique_key="b"),
    }
    assert len(ids) == 4
    assert set(statuses(store)) == ids


def test_jobs_outlive_the_store_object(store: Store) -> None:
    job_id = enqueue(store)
    store.schema_ensure()  # again: changes nothing
    store.close()
    again = open_store(store.url)
    try:
        again.schema_ensure()
        assert get(again, job_id).status == Status.PENDING
        assert again.job_claim_one("w1", job_id, LEASE, NOW) is not None
    finally:
        again.close()


# -- claim -----------------------------------------------------------------------------------


def test_enqueue_many_inserts_every_job_in_order(store: Store) -> None:
    jobs = [new_job(args={"n": n}, priority=n % 3) for n in range(250)]
    assert store.job_enqueue_many(jobs) == [job.id for job in jobs]
    assert store.job_enqueue_many([]) == []
    assert [get(store, job.id).args for job in jobs[:3]] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert get(store, jobs[-1].id).priority == 249 % 3
    assert len(claim(store, limit=1000)) == 250


def test_enqueue_many_stores_every_field_as_given(store: Store) -> None:
    # Characters that text encodings of rows (COPY, JSON, SQL literals) must escape.
    awkward = "tab\there\nnew line\\back slash\r'quote\"é✓"
    sizes = (1, 79, 80, 81, 160)  # around the SQLite store's rows per statement
    batches = [
        [
            new_job(
                args={"s": awkward, "n": n, "nested": {"list": [1.5, None, True]}},
                task=f"tests.{awkward}",
                queue=f"q{size}",
                owner=awkward if n % 2 else None,
                priority=-n,
                max_attempts=3,
                timeout=None if n % 2 else 2.5,
                backoff=0.25,
                created_at=NOW + n,
                available_at=NOW + n + 0.125,
                args_json=None if n % 3 else f'{{"s":"x","n":{n}}}',
            )
            for n in range(size)
        ]
        for size in sizes
    ]
    for jobs in batches:
        assert store.job_enqueue_many(jobs) == [job.id for job in jobs]
    for jobs in batches:
        for job in jobs:
            record = get(store, job.id)
            assert record.args == (json.loads(job.args_json) if job.args_json else job.args)
            assert (record.task, record.queue, record.owner) == (job.task, job.queue, job.owner)
            assert (record.status, record.priority, record.attempts) == (
                Status.PENDING,
                job.priority,
                0,
            )
            assert (record.max_attempts, record.timeout, record.backoff) == (3, job.timeout, 0.25)
            assert (record.created_at, record.available_at) == (job.created_at, job.available_at)
            assert record.unique_key is None
    assert len(claim(store, limit=1000, now=NOW + 1000)) == sum(sizes)


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


# -- progress --------------------------------------------------------------------------------


def test_write_progress_stores_totals_usage_and_entries(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    write = ProgressWrite(
        lease,
        total=50,
        processed=12,
        current="src/app.py",
        usage={"tokens": 1234, "ai_cost": 0.125},
        results=[{"item": 1, "success": True, "message": "fixed"}, {"item": 2, "success": False}],
        errors=["item 2: could not parse"],
    )
    assert store.job_write_progress("w1", [write]) == []
    record = get(store, job_id)
    assert (record.progress_total, record.progress_processed) == (50, 12)
    assert record.progress_current == "src/app.py"
    assert record.usage == {"tokens": 1234, "ai_cost": 0.125}
    assert record.results == (
        {"item": 1, "success": True, "message": "fixed"},
        {"item": 2, "success": False},
    )
    assert record.errors == ("item 2: could not parse",)
    assert record.checkpoint is None
    assert record.status == Status.PROCESSING


def test_write_progress_totals_are_absolute_and_entries_append_in_order(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    writes = [
        ProgressWrite(lease, total=3, processed=1, usage={"tokens": 10}, results=[{"n": 1}]),
        ProgressWrite(lease, total=3, processed=2, usage={"tokens": 25}, errors=["e1"]),
        ProgressWrite(
            lease,
            total=3,
            processed=3,
            current="c",
            usage={"tokens": 40},
            results=[{"n": 2}, {"n": 3}],
            errors=["e2", "e3"],
        ),
    ]
    for write in writes:
        assert store.job_write_progress("w1", [write]) == []
    record = get(store, job_id)
    assert (record.progress_total, record.progress_processed, record.progress_current) == (
        3,
        3,
        "c",
    )
    assert record.usage == {"tokens": 40}
    assert record.results == ({"n": 1}, {"n": 2}, {"n": 3})
    assert record.errors == ("e1", "e2", "e3")


def test_write_progress_stores_the_checkpoint_only_when_it_has_one(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)

    ignored = ProgressWrite(lease, processed=1, checkpoint={"ignored": True})
    assert store.job_write_progress("w1", [ignored]) == []
    assert get(store, job_id).checkpoint is None

    saved = ProgressWrite(lease, processed=2, checkpoint={"done": [1, 2]}, has_checkpoint=True)
    assert store.job_write_progress("w1", [saved]) == []
    assert get(store, job_id).checkpoint == {"done": [1, 2]}

    assert store.job_write_progress("w1", [ProgressWrite(lease, processed=3)]) == []
    record = get(store, job_id)
    assert (record.checkpoint, record.progress_processed) == ({"done": [1, 2]}, 3)

    falsy: tuple[Any, ...] = (0, "", [], None)
    for value in falsy:
        write = ProgressWrite(lease, processed=3, checkpoint=value, has_checkpoint=True)
        assert store.job_write_progress("w1", [write]) == []
        assert get(store, job_id).checkpoint == value


def test_write_progress_batch_refuses_only_the_fenced_writes(store: Store) -> None:
    good, bad = enqueue(store), enqueue(store)
    good_lease = claim_one(store, good)
    bad_lease = claim_one(store, bad, worker="w2")
    writes = [
        ProgressWrite(good_lease, processed=5, results=[{"ok": 1}]),
        ProgressWrite(bad_lease, processed=5, results=[{"ok": 2}]),
    ]
    assert store.job_write_progress("w1", writes) == [bad]
    assert get(store, good).progress_processed == 5
    assert get(store, good).results == ({"ok": 1},)
    assert get(store, bad).progress_processed == 0
    assert get(store, bad).results == ()


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


# -- delete and prune ------------------------------------------------------------------------


def test_delete_a_job_and_its_entries(store: Store) -> None:
    job = new_job()
    store.job_enqueue(job)
    lease = claim_one(store, job.id)
    write = ProgressWrite(lease, results=[{"n": 1}], errors=["e"])
    finish(store, lease, Status.FAILED, error="E: x", progress=write)
    assert store.job_delete(job.id) is True
    assert store.job_get(job.id) is None
    assert store.job_delete(job.id) is False
    # the entries went with it: a job stored again under the same id starts clean
    store.job_enqueue(job)
    assert (get(store, job.id).results, get(store, job.id).errors) == ((), ())


def test_delete_a_pending_job(store: Store) -> None:
    job_id = enqueue(store)
    assert store.job_delete(job_id) is True
    assert store.job_get(job_id) is None
    assert claim(store) == []


def test_delete_refuses_a_processing_job(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    assert store.job_delete(job_id) is False
    assert get(store, job_id).status == Status.PROCESSING
    assert finish(store, lease, Status.COMPLETED) == []


def test_delete_an_unknown_job(store: Store) -> None:
    assert store.job_delete(new_job_id()) is False


def test_prune_deletes_only_jobs_finished_before_the_cutoff(store: Store) -> None:
    def finished(status: Status, at: float) -> NewJob:
        job = new_job()
        store.job_enqueue(job)
        if status == Status.CANCELLED:
            store.job_cancel(job.id, at)
            return job
        lease = claim_one(store, job.id)
        write = ProgressWrite(lease, results=[{"n": 1}], errors=["e"])
        outcome = Outcome(lease, status, at, error="E: x", progress=write)
        assert store.job_finish("w1", [outcome]) == []
        return job

    old = [finished(s, NOW + 10) for s in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)]
    recent = [finished(s, NOW + 30) for s in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)]
    pending = enqueue(store, created_at=NOW - 1000)
    processing = enqueue(store, created_at=NOW - 1000)
    claim_one(store, processing)

    assert store.job_prune(NOW + 20) == 3
    assert sorted(statuses(store)) == sorted([*(j.id for j in recent), pending, processing])
    assert store.job_prune(NOW + 20) == 0

    # their entries went too: the same id stored again has none
    store.job_enqueue(old[0])
    assert (get(store, old[0].id).results, get(store, old[0].id).errors) == ((), ())
    assert get(store, recent[0].id).results == ({"n": 1},)


# -- list ------------------------------------------------------------------------------------


def test_list_newest_first_without_entries(store: Store) -> None:
    ids = [enqueue(store) for _ in range(3)]
    lease = claim_one(store, ids[0])
    store.job_write_progress("w1", [ProgressWrite(lease, processed=1, results=[{"n": 1}])])
    page = store.job_list()
    assert [job.id for job in page.jobs] == ids[::-1]
    assert page.next_cursor is None
    listed = page.jobs[-1]
    assert (listed.status, listed.progress_processed, listed.results) == (
        Status.PROCESSING,
        1,
        (),
    )


def test_list_filters(store: Store) -> None:
    a = enqueue(store, task="t.a", queue="q1", owner="alice")
    b = enqueue(store, task="t.b", queue="q1", owner="bob")
    c = enqueue(store, task="t.a", queue="q2", owner="alice")
    d = enqueue(store, task="t.a", queue="q2")
    claim_one(store, c)

    def ids(**filters: Any) -> list[str]:
        return [job.id for job in store.job_list(**filters).jobs]

    assert ids(task="t.a") == [d, c, a]
    assert ids(queue="q1") == [b, a]
    assert ids(owner="alice") == [c, a]
    assert ids(status=Status.PROCESSING) == [c]
    assert ids(status=Status.PENDING, task="t.a") == [d, a]
    assert ids(status=Status.PENDING, task="t.a", queue="q1", owner="alice") == [a]
    assert ids(status=Status.FAILED) == []
    assert ids(task="nope") == []


def test_list_pages_with_a_cursor_without_duplicates_or_gaps(store: Store) -> None:
    ids = [enqueue(store, queue="even" if i % 2 == 0 else "odd") for i in range(25)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = store.job_list(limit=10, cursor=cursor)
        pages += 1
        seen.extend(job.id for job in page.jobs)
        if pages == 1:
            # jobs dispatched while someone pages do not shift the later pages
            enqueue(store)
            enqueue(store)
        if page.next_cursor is None:
            break
        assert page.next_cursor == page.jobs[-1].id
        cursor = page.next_cursor
    assert pages == 3
    assert seen == ids[::-1]


def test_list_last_page_when_the_count_is_a_multiple_of_the_limit(store: Store) -> None:
    ids = [enqueue(store) for _ in range(6)]
    first = store.job_list(limit=3)
    assert first.next_cursor is not None
    second = store.job_list(limit=3, cursor=first.next_cursor)
    assert [j.id for j in first.jobs + second.jobs] == ids[::-1]
    assert second.next_cursor is None


def test_list_pages_with_a_filter(store: Store) -> None:
    odd = [enqueue(store, queue="even" if i % 2 == 0 else "odd") for i in range(9)][1::2]
    first = store.job_list(queue="odd", limit=3)
    assert first.next_cursor is not None
    second = store.job_list(queue="odd", limit=3, cursor=first.next_cursor)
    assert [j.id for j in first.jobs + second.jobs] == odd[::-1]
    assert second.next_cursor is None


def test_list_of_an_empty_store(store: Store) -> None:
    page = store.job_list()
    assert (page.jobs, page.next_cursor) == ([], None)


# -- stats and workers -----------------------------------------------------------------------


def test_stats_counts_per_queue_and_status(store: Store) -> None:
    enqueue(store, queue="a")
    enqueue(store, queue="a")
    claim_one(store, enqueue(store, queue="a"))
    end(store, enqueue(store, queue="b"), Status.COMPLETED)
    end(store, enqueue(store, queue="b"), Status.FAILED)
    end(store, enqueue(store, queue="b"), Status.CANCELLED)
    stats = store.stats(NOW + 5)
    assert stats.counts == {
        "a": {"pending": 2, "processing": 1},
        "b": {"completed": 1, "failed": 1, "cancelled": 1},
    }


def test_stats_of_an_empty_store(store: Store) -> None:
    stats = store.stats(NOW)
    assert (stats.counts, stats.workers) == ({}, [])
    assert (stats.completed_last_minute, stats.failed_last_minute) == (0, 0)


def test_stats_throughput_counts_the_last_minute(store: Store) -> None:
    def end(status: Status, at: float) -> None:
        job_id = enqueue(store)
        if status == Status.CANCELLED:
            store.job_cancel(job_id, at)
            return
        lease = claim_one(store, job_id, now=at - 1)
        assert finish(store, lease, status, finished_at=at, error="E: x") == []

    end(Status.COMPLETED, NOW + 100 - 30)
    end(Status.COMPLETED, NOW + 100 - 5)
    end(Status.COMPLETED, NOW + 100 - 90)
    end(Status.FAILED, NOW + 100 - 10)
    end(Status.FAILED, NOW + 100 - 61)
    end(Status.CANCELLED, NOW + 100 - 1)
    stats = store.stats(NOW + 100)
    assert (stats.completed_last_minute, stats.failed_last_minute) == (2, 1)


def test_stats_lists_workers_alive_and_not_stale_ones(store: Store) -> None:
    alive = worker_info("w-alive", last_seen_at=NOW - 5, running=1)
    stale = worker_info("w-stale", last_seen_at=NOW - LEASE - 10)
    store.job_heartbeat(alive, [], LEASE, alive.last_seen_at)
    store.job_heartbeat(stale, [], LEASE, stale.last_seen_at)
    assert store.stats(NOW).workers == [alive]

    # a later heartbeat updates when it was seen and what it runs
    renewed = worker_info("w-alive", last_seen_at=NOW + 40, running=3)
    store.job_heartbeat(renewed, [], LEASE, NOW + 40)
    assert store.stats(NOW + 60).workers == [renewed]


def test_worker_remove(store: Store) -> None:
    for worker_id in ("w1", "w2"):
        store.job_heartbeat(worker_info(worker_id), [], LEASE, NOW)
    store.worker_remove("w1")
    assert [w.id for w in store.stats(NOW).workers] == ["w2"]
    store.worker_remove("never-seen")
    assert [w.id for w in store.stats(NOW).workers] == ["w2"]


# -- wake-up ---------------------------------------------------------------------------------


def test_work_from_another_connection_is_signalled(store: Store) -> None:
    other = open_store(store.url)
    try:
        fd = store.work_wake_fd()
        if fd is None:
            store.work_changed()  # forget whatever happened before
        for _ in range(2):  # a signal is seen again after it was consumed
            other.job_enqueue(new_job())
            if fd is None:
                assert store.work_changed() is True
            else:
                readable, _, _ = select.select([fd], [], [], 10)
                assert readable == [fd]
                store.work_changed()
    finally:
        other.close()


def test_bulk_work_from_another_connection_is_signalled(store: Store) -> None:
    other = open_store(store.url)
    try:
        fd = store.work_wake_fd()
        store.work_changed()  # forget whatever happened before
        other.job_enqueue_many([new_job() for _ in range(200)])
        if fd is not None:
            readable, _, _ = select.select([fd], [], [], 10)
            assert readable == [fd]
        assert store.work_changed() is True
    finally:
        other.close()


# -- the state machine -----------------------------------------------------------------------


def bring_to(store: Store, status: Status) -> tuple[str, Lease]:
    job_id = enqueue(store, max_attempts=2)
    lease = Lease(job_id, 1)
    if status == Status.PENDING:
        return job_id, lease
    if status == Status.CANCELLED:
        store.job_cancel(job_id, NOW)
        return job_id, lease
    lease = claim_one(store, job_id)
    if status != Status.PROCESSING:
        assert finish(store, lease, status, finished_at=NOW, error="E: x") == []
    return job_id, lease


def _cancel(store: Store, job_id: str, _lease: Lease) -> None:
    store.job_cancel(job_id, NOW + 100)


def _retry(store: Store, job_id: str, _lease: Lease) -> None:
    store.job_retry(job_id, NOW + 100)


def _claim(store: Store, _job_id: str, _lease: Lease) -> None:
    store.job_claim("w2", ClaimRequest([], 10, LEASE, NOW + 100))


def _claim_one(store: Store, job_id: str, _lease: Lease) -> None:
    store.job_claim_one("w2", job_id, LEASE, NOW + 100)


def _finisher(status: Status) -> Callable[[Store, str, Lease], None]:
    def run(store: Store, _job_id: str, lease: Lease) -> None:
        retry_at = NOW + 200 if status == Status.PENDING else None
        store.job_finish("w1", [Outcome(lease, status, NOW + 100, error="E", retry_at=retry_at)])

    return run


def _release(store: Store, _job_id: str, lease: Lease) -> None:
    store.job_release("w1", [lease], NOW + 100)


def _rescue(store: Store, _job_id: str, _lease: Lease) -> None:
    store.lease_rescue(NOW + 100)


def _progress(store: Store, _job_id: str, lease: Lease) -> None:
    store.job_write_progress("w1", [ProgressWrite(lease, processed=1)])


def _heartbeat(store: Store, _job_id: str, lease: Lease) -> None:
    store.job_heartbeat(worker_info(), [lease], LEASE, NOW + 100)


OPERATIONS: dict[str, Callable[[Store, str, Lease], None]] = {
    "cancel": _cancel,
    "retry": _retry,
    "claim": _claim,
    "claim_one": _claim_one,
    "finish_completed": _finisher(Status.COMPLETED),
    "finish_failed": _finisher(Status.FAILED),
    "finish_cancelled": _finisher(Status.CANCELLED),
    "finish_retry": _finisher(Status.PENDING),
    "release": _release,
    "rescue": _rescue,
    "progress": _progress,
    "heartbeat": _heartbeat,
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("start", list(Status))
def test_every_operation_moves_a_job_only_as_the_state_machine_allows(
    store: Store, start: Status, operation: str
) -> None:
    job_id, lease = bring_to(store, start)
    try:
        OPERATIONS[operation](store, job_id, lease)
    except InvalidTransition:
        assert get(store, job_id).status == start
        return
    end = get(store, job_id).status
    assert end == start or end in TRANSITIONS[start], f"{operation}: {start} -> {end}"
    if operation in ("progress", "heartbeat"):
        assert end == start


@pytest.mark.parametrize("start", list(Status))
def test_cancel_succeeds_exactly_where_the_state_machine_allows_it(
    store: Store, start: Status
) -> None:
    job_id, _ = bring_to(store, start)
    if Status.CANCELLED in TRANSITIONS[start]:
        assert store.job_cancel(job_id, NOW + 1).status == Status.CANCELLED
    else:
        with pytest.raises(InvalidTransition):
            store.job_cancel(job_id, NOW + 1)
