"""Batches: counters kept in step with every move of a child (dispatch, claim, progress, finish,
lease rescue, release, cancel, retry, delete), results and errors read by page, callbacks
settled exactly once, and creation in transactions of at most 1,000 children."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from underway.errors import BatchNotFound, InvalidTransition
from underway.ids import new_job_id
from underway.model import BatchRecord, NewBatch, NewJob, Status
from underway.store import ClaimRequest, Lease, Outcome, ProgressWrite, Store, open_store
from underway.store.batchrows import CHILDREN_PER_TRANSACTION

from .helpers import LEASE, NOW, claim_one, finish, new_job, worker_info


def new_batch(**fields: Any) -> NewBatch:
    defaults: dict[str, Any] = {
        "id": new_job_id(),
        "task": "tests.work",
        "queue": "default",
        "priority": 0,
        "chunk_size": 2,
        "allow_failures": True,
        "created_at": NOW,
        "callback_options": {},
        "on_complete": "tests.done",
        "on_success": "tests.success",
        "on_failure": "tests.failure",
    }
    return NewBatch(**{**defaults, **fields})


def children(batch_id: str, count: int, items: int = 2, **fields: Any) -> list[NewJob]:
    return [
        new_job(
            batch_id=batch_id, args={"items": list(range(n * items, (n + 1) * items))}, **fields
        )
        for n in range(count)
    ]


def create(store: Store, count: int = 3, items: int = 2, **fields: Any) -> tuple[str, list[str]]:
    batch = new_batch(**fields)
    kids = children(batch.id, count, items)
    store.batch_create(batch, kids)
    return batch.id, [kid.id for kid in kids]


def record(store: Store, batch_id: str) -> BatchRecord:
    found = store.batch_get(batch_id)
    assert found is not None
    return found


def jobs(store: Store, batch_id: str) -> tuple[int, int, int, int, int]:
    r = record(store, batch_id)
    return r.jobs_pending, r.jobs_processing, r.jobs_completed, r.jobs_failed, r.jobs_cancelled


def items(store: Store, batch_id: str) -> tuple[int, int, int, int]:
    r = record(store, batch_id)
    return r.items_total, r.items_processed, r.items_succeeded, r.items_failed


def callback_jobs(batch_id: str) -> dict[str, NewJob]:
    return {
        kind: new_job(task=f"tests.{kind}", args={"batch_id": batch_id})
        for kind in ("on_success", "on_failure", "on_complete")
    }


def settle(store: Store, batch_id: str) -> list[str]:
    """The callbacks one settle dispatched, by kind; each exists as a pending job."""
    done = store.batch_settle(batch_id, callback_jobs(batch_id), NOW + 50)
    for _, job_id in done:
        job = store.job_get(job_id)
        assert job is not None and job.status == Status.PENDING
        assert job.args == {"batch_id": batch_id} and job.batch_id is None
    return [kind for kind, _ in done]


def finish_all(store: Store, status: Status = Status.COMPLETED, now: float = NOW) -> None:
    """Claim up to 1,000 ready children and end them all with status, at now + 5."""
    claimed = store.job_claim("w1", ClaimRequest([], 1000, LEASE, now))
    outcomes = [Outcome(Lease(r.id, r.attempts), status, now + 5) for r in claimed]
    assert store.job_finish("w1", outcomes) == []


# -- creating and counting ---------------------------------------------------------------------


def test_a_new_batch_counts_its_children_and_their_items(store: Store) -> None:
    batch_id, kid_ids = create(store, count=3, items=2)
    r = record(store, batch_id)
    assert (r.jobs_total, r.items_total, r.status) == (3, 6, Status.PENDING)
    assert jobs(store, batch_id) == (3, 0, 0, 0, 0)
    assert (r.completed_at, r.callbacks_due, r.runs, r.chunk_size) == (None, False, 0, 2)
    child = store.job_get(kid_ids[0])
    assert child is not None and child.batch_id == batch_id
    assert child.args == {"items": [0, 1]}
    assert store.job_get(store.job_enqueue(new_job())).batch_id is None  # type: ignore[union-attr]
    assert store.batch_get(new_job_id()) is None


def test_a_batch_without_children_ends_when_it_is_made(store: Store) -> None:
    batch = new_batch()
    store.batch_create(batch, [])
    r = record(store, batch.id)
    assert (r.jobs_total, r.building, r.runs, r.callbacks_due) == (0, 0, 1, True)
    assert r.completed_at == NOW  # its creation time: no child ever finished


def test_counters_follow_claim_progress_and_finish(store: Store) -> None:
    batch_id, kid_ids = create(store, count=3, items=2)
    first, second = (claim_one(store, kid) for kid in kid_ids[:2])
    assert jobs(store, batch_id) == (1, 2, 0, 0, 0)
    assert record(store, batch_id).status == Status.PROCESSING
    write = ProgressWrite(
        first,
        total=2,
        processed=1,
        current="item 0",
        usage={"tokens": 5},
        results=[{"item": 0, "success": True}],
    )
    assert store.job_write_progress("w1", [write]) == []
    r = record(store, batch_id)
    assert (r.items_processed, r.progress_current, r.usage) == (1, "item 0", {"tokens": 5})
    last = ProgressWrite(
        first, total=2, processed=2, current="item 1", usage={"tokens": 8},
        results=[{"item": 1, "success": False, "message": "no"}],
    )  # fmt: skip
    assert finish(store, first, Status.COMPLETED, progress=last) == []
    assert jobs(store, batch_id) == (1, 1, 1, 0, 0)
    assert items(store, batch_id) == (6, 2, 1, 1)
    assert record(store, batch_id).usage == {"tokens": 8}
    # No results from a failed child: all its items failed.
    assert finish(store, second, Status.FAILED, error="E: down") == []
    assert jobs(store, batch_id) == (1, 0, 1, 1, 0)
    assert items(store, batch_id) == (6, 4, 1, 3)
    assert store.batch_results(batch_id, 0, 10) == [
        {"item": 0, "success": True},
        {"item": 1, "success": False, "message": "no"},
    ]
    assert store.batch_errors(batch_id, 10) == [
        {"job_id": kid_ids[1], "error": "E: down", "items": [2, 3]}
    ]


def test_a_completed_child_without_results_succeeded_with_all_its_items(store: Store) -> None:
    batch_id, kid_ids = create(store, count=2, items=3)
    finish(store, claim_one(store, kid_ids[0]), Status.COMPLETED)
    assert items(store, batch_id) == (6, 3, 3, 0)
    assert record(store, batch_id).completed_at is None


def test_results_past_the_chunk_count_only_the_latest(store: Store) -> None:
    batch_id, kid_ids = create(store, count=1, items=2)
    lease = claim_one(store, kid_ids[0])
    results = [{"item": 0, "success": False}, {"item": 0}, {"item": 1, "success": True}]
    finish(store, lease, Status.COMPLETED, progress=ProgressWrite(lease, results=results))
    assert items(store, batch_id) == (2, 2, 2, 0)


def test_release_and_lease_rescue_move_children_back(store: Store) -> None:
    batch_id, kid_ids = create(store, count=2, items=1)
    leases = [claim_one(store, kid) for kid in kid_ids]
    store.job_release("w1", leases[:1], NOW + 1)
    assert jobs(store, batch_id) == (1, 1, 0, 0, 0)
    assert store.lease_rescue(NOW + LEASE + 10) == [(kid_ids[1], Status.FAILED)]
    assert jobs(store, batch_id) == (1, 0, 0, 1, 0)
    assert items(store, batch_id) == (2, 1, 0, 1)


def test_a_deleted_pending_child_leaves_the_counters(store: Store) -> None:
    batch_id, kid_ids = create(store, count=2, items=2)
    finish(store, claim_one(store, kid_ids[0]), Status.COMPLETED)
    assert store.job_delete(kid_ids[1])
    r = record(store, batch_id)
    assert (r.jobs_total, r.items_total, r.jobs_pending) == (1, 2, 0)
    assert (r.status, r.callbacks_due) == (Status.COMPLETED, True)


def test_usage_sums_over_children_and_attempts(store: Store) -> None:
    batch_id, kid_ids = create(store, count=2, items=1)
    for kid, tokens in zip(kid_ids, (3, 4), strict=True):
        lease = claim_one(store, kid)
        write = ProgressWrite(lease, usage={"tokens": tokens, "cost": 1})
        finish(store, lease, Status.FAILED, progress=write, error="E")
    store.batch_retry(batch_id, NOW + 10)
    lease = claim_one(store, kid_ids[0], now=NOW + 10)
    write = ProgressWrite(lease, usage={"tokens": 3 + 10, "cost": 2})
    finish(store, lease, Status.COMPLETED, progress=write)
    assert record(store, batch_id).usage == {"tokens": 17, "cost": 3}


# -- ending and settling ---------------------------------------------------------------------


def test_a_batch_ends_once_and_settles_once(store: Store) -> None:
    batch_id, _ = create(store, count=3, items=2)
    assert store.batch_due(10) == []
    finish_all(store)
    r = record(store, batch_id)
    assert (r.status, r.completed_at, r.runs, r.callbacks_due) == (
        Status.COMPLETED,
        NOW + 5,
        1,
        True,
    )
    assert [due.id for due in store.batch_due(10)] == [batch_id]
    assert settle(store, batch_id) == ["on_success", "on_complete"]
    assert settle(store, batch_id) == []
    assert store.batch_due(10) == []
    assert record(store, batch_id).success_called


def test_retry_runs_only_failed_children_and_ends_again(store: Store) -> None:
    batch_id, kid_ids = create(store, count=3, items=1)
    for kid, status in zip(
        kid_ids, (Status.COMPLETED, Status.FAILED, Status.COMPLETED), strict=True
    ):
        lease = claim_one(store, kid)
        results = [{"item": kid, "success": status == Status.COMPLETED}]
        finish(store, lease, status, progress=ProgressWrite(lease, results=results), error="E")
    assert (record(store, batch_id).status, items(store, batch_id)) == (Status.FAILED, (3, 3, 2, 1))
    assert settle(store, batch_id) == ["on_complete"]  # not every item succeeded

    assert store.batch_retry(batch_id, NOW + 10) == [kid_ids[1]]
    r = record(store, batch_id)
    assert (r.status, r.completed_at, r.callbacks_due) == (Status.PROCESSING, None, False)
    assert items(store, batch_id) == (3, 2, 2, 0)
    assert jobs(store, batch_id) == (1, 0, 2, 0, 0)  # the completed ones stay done
    lease = claim_one(store, kid_ids[1], now=NOW + 10)
    results = [{"item": kid_ids[1], "success": True}]
    finish(store, lease, Status.COMPLETED, progress=ProgressWrite(lease, results=results))
    r = record(store, batch_id)
    assert (r.status, r.runs, items(store, batch_id)) == (Status.COMPLETED, 2, (3, 3, 3, 0))
    assert settle(store, batch_id) == ["on_success", "on_complete"]
    assert len(store.batch_results(batch_id, 0, 10)) == 4  # the earlier result is kept
    with pytest.raises(InvalidTransition, match="no failed or cancelled jobs"):
        store.batch_retry(batch_id, NOW + 20)
    with pytest.raises(BatchNotFound):
        store.batch_retry(new_job_id(), NOW)


def test_a_failure_stops_a_batch_that_allows_none_once_per_run(store: Store) -> None:
    batch_id, kid_ids = create(store, count=4, items=1, allow_failures=False)
    failing, running = claim_one(store, kid_ids[0]), claim_one(store, kid_ids[1])
    finish(store, failing, Status.FAILED, error="E: bad")
    assert record(store, batch_id).failure_due
    first = settle(store, batch_id)
    assert first[0] == "on_failure"
    assert jobs(store, batch_id) == (0, 0, 0, 1, 3)
    held = store.job_heartbeat(worker_info(), [running], LEASE, NOW + 2)
    assert held == set()  # its worker stops it, as after job_cancel
    assert finish(store, running, Status.COMPLETED) == [kid_ids[1]]
    # The end the cancels made is settled with the failure, or (where it is counted when the
    # transaction commits) by the next settle.
    later = settle(store, batch_id)
    assert sorted(first + later) == ["on_complete", "on_failure"]
    assert settle(store, batch_id) == []

    store.batch_retry(batch_id, NOW + 10)
    finish_all(store, status=Status.FAILED, now=NOW + 10)
    r = record(store, batch_id)
    assert (r.runs, r.failure_due, r.callbacks_due) == (2, True, True)
    assert settle(store, batch_id) == ["on_failure", "on_complete"]


def test_settling_races_dispatch_each_callback_once(store: Store, database_url: str) -> None:
    batch_ids = [create(store, count=2, items=1)[0] for _ in range(10)]
    finish_all(store)
    other = open_store(database_url)
    try:
        dispatched: list[str] = []
        barrier = threading.Barrier(2)

        def race(racer: Store) -> None:
            for batch_id in batch_ids:
                barrier.wait()
                dispatched.extend(settle(racer, batch_id))

        threads = [threading.Thread(target=race, args=(s,)) for s in (store, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.close()
    assert sorted(dispatched) == ["on_complete"] * 10 + ["on_success"] * 10


# -- cancel and add ----------------------------------------------------------------------------


def test_cancel_stops_pending_and_processing_children(store: Store) -> None:
    batch_id, kid_ids = create(store, count=3, items=1)
    done, running = claim_one(store, kid_ids[0]), claim_one(store, kid_ids[1])
    finish(store, done, Status.COMPLETED)
    cancelled = store.batch_cancel(batch_id, NOW + 3)
    assert (cancelled.status, cancelled.cancelled_at) == (Status.CANCELLED, NOW + 3)
    assert jobs(store, batch_id) == (0, 0, 1, 0, 2)
    assert store.job_heartbeat(worker_info(), [running], LEASE, NOW + 4) == set()
    assert record(store, batch_id).callbacks_due
    assert settle(store, batch_id) == ["on_complete"]
    with pytest.raises(InvalidTransition, match="cancelled"):
        store.batch_cancel(batch_id, NOW + 5)
    with pytest.raises(BatchNotFound):
        store.batch_cancel(new_job_id(), NOW)
    assert sorted(store.batch_retry(batch_id, NOW + 6)) == kid_ids[1:]  # no longer cancelled
    assert record(store, batch_id).status == Status.PROCESSING


def test_add_grows_an_open_batch_only(store: Store) -> None:
    batch_id, _ = create(store, count=1, items=2)
    assert store.batch_add(batch_id, children(batch_id, 2, items=3)) == 2
    assert (record(store, batch_id).jobs_total, items(store, batch_id)[0]) == (3, 8)
    finish_all(store)
    with pytest.raises(InvalidTransition, match="completed"):
        store.batch_add(batch_id, children(batch_id, 1))
    with pytest.raises(BatchNotFound):
        store.batch_add(new_job_id(), children(batch_id, 1))
    assert record(store, batch_id).jobs_total == 3


# -- large batches -------------------------------------------------------------------------------


def test_a_batch_cannot_end_while_its_children_are_still_being_written(store: Store) -> None:
    batch = new_batch(chunk_size=1)
    seen: list[tuple[int, int]] = []

    def made() -> Iterator[NewJob]:
        for n in range(2 * CHILDREN_PER_TRANSACTION + 500):
            if n == 2 * CHILDREN_PER_TRANSACTION:  # the first group is written, no more
                finish_all(store)
                r = record(store, batch.id)
                seen.append((r.jobs_completed, r.runs))
                assert r.completed_at is None and not r.callbacks_due
            yield new_job(batch_id=batch.id, args={"items": [n]})

    store.batch_create(batch, made())
    assert seen == [(CHILDREN_PER_TRANSACTION, 0)]  # the first group alone was committed
    finish_all(store)
    finish_all(store)
    r = record(store, batch.id)
    assert (r.jobs_completed, r.items_succeeded, r.runs, r.callbacks_due) == (2500, 2500, 1, True)


def test_a_failure_stops_a_batch_that_allows_none_while_it_is_written(store: Store) -> None:
    batch = new_batch(chunk_size=1, allow_failures=False)

    def made() -> Iterator[NewJob]:
        for n in range(2 * CHILDREN_PER_TRANSACTION + 500):
            if n == 2 * CHILDREN_PER_TRANSACTION:  # the first group is written: one fails
                [first] = store.job_claim("w1", ClaimRequest([], 1, LEASE, NOW))
                finish(store, Lease(first.id, 1), Status.FAILED, error="E: bad")
            yield new_job(batch_id=batch.id, args={"items": [n]})

    store.batch_create(batch, made())
    r = record(store, batch.id)
    assert (r.jobs_total, r.jobs_failed, r.failure_due) == (CHILDREN_PER_TRANSACTION, 1, True)
    assert sorted(settle(store, batch.id) + settle(store, batch.id)) == [
        "on_complete",
        "on_failure",
    ]
    assert jobs(store, batch.id) == (0, 0, 0, 1, CHILDREN_PER_TRANSACTION - 1)


def test_an_add_that_breaks_off_keeps_what_it_wrote_and_lets_the_batch_end(
    store: Store,
) -> None:
    batch_id, _ = create(store, count=1, items=1)

    def made() -> Iterator[NewJob]:
        for n in range(CHILDREN_PER_TRANSACTION * 3):
            if n == 2 * CHILDREN_PER_TRANSACTION:
                raise RuntimeError("the items ran dry")
            yield new_job(batch_id=batch_id, args={"items": [n]})

    with pytest.raises(RuntimeError, match="ran dry"):
        store.batch_add(batch_id, made())
    assert record(store, batch_id).jobs_total == 1 + CHILDREN_PER_TRANSACTION
    finish_all(store)
    finish_all(store)
    r = record(store, batch_id)
    assert (r.building, r.jobs_completed, r.runs, r.callbacks_due) == (0, 1001, 1, True)


def test_a_hundred_thousand_items_in_chunks_of_a_hundred(store: Store) -> None:
    batch = new_batch(chunk_size=100)
    made = (
        new_job(batch_id=batch.id, args={"items": list(range(n * 100, n * 100 + 100))})
        for n in range(1000)
    )
    store.batch_create(batch, made)
    r = record(store, batch.id)
    assert (r.jobs_total, r.items_total, r.jobs_pending, r.status) == (
        1000,
        100_000,
        1000,
        Status.PENDING,
    )
    assert store.batch_results(batch.id, 0, 100) == []


def test_results_are_paged_child_by_child(store: Store) -> None:
    batch_id, kid_ids = create(store, count=3, items=2)
    for kid in kid_ids:
        lease = claim_one(store, kid)
        results = [{"child": kid, "n": n} for n in range(2)]
        finish(store, lease, Status.COMPLETED, progress=ProgressWrite(lease, results=results))
    every = [{"child": kid, "n": n} for kid in kid_ids for n in range(2)]
    assert store.batch_results(batch_id, 0, 100) == every
    assert store.batch_results(batch_id, 3, 2) == every[3:5]
    assert store.batch_results(batch_id, 6, 2) == []


def test_finishing_children_of_two_batches_in_opposite_orders_at_once(
    store: Store, database_url: str
) -> None:
    # Two workers each end a child of batch A and one of batch B in one call, in opposite
    # orders, at the same moment, round after round: neither waits for the other in a circle.
    a, a_kids = create(store, count=20, items=1)
    b, b_kids = create(store, count=20, items=1)
    leases = {kid: claim_one(store, kid, worker="w1" if n % 2 else "w2")
              for n, kid in enumerate(a_kids + b_kids)}  # fmt: skip
    other = open_store(database_url)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def end(racer: Store, worker: str, pairs: list[tuple[str, str]]) -> None:
        try:
            for first, second in pairs:
                barrier.wait()
                outcomes = [
                    Outcome(leases[kid], Status.COMPLETED, NOW + 5) for kid in (first, second)
                ]
                assert racer.job_finish(worker, outcomes) == []
        except BaseException as exc:  # reported below, from the test's thread
            errors.append(exc)
            barrier.abort()

    mine = [kid for n, kid in enumerate(a_kids + b_kids) if n % 2]
    theirs = [kid for n, kid in enumerate(a_kids + b_kids) if not n % 2]
    w1 = [(x, y) for x, y in zip(mine[:10], mine[10:], strict=True)]  # A's child, then B's
    w2 = [(y, x) for x, y in zip(theirs[:10], theirs[10:], strict=True)]  # B's, then A's
    try:
        threads = [
            threading.Thread(target=end, args=(store, "w1", w1)),
            threading.Thread(target=end, args=(other, "w2", w2)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.close()
    assert errors == []
    assert jobs(store, a) == jobs(store, b) == (0, 0, 20, 0, 0)
    # An end that a transaction could not record, finding the batch's row busy, is recorded
    # by the next look for batches due.
    assert {due.id for due in store.batch_due(10)} == {a, b}
    assert record(store, a).runs == record(store, b).runs == 1
