"""Stats per queue and status, throughput, and the workers alive."""

from __future__ import annotations

from underway.model import Status
from underway.store import (
    Store,
)

from .helpers import (
    LEASE,
    NOW,
    claim_one,
    end,
    enqueue,
    finish,
    worker_info,
)

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
