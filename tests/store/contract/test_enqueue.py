"""Enqueue and get: every field round-trips, unique keys, bulk enqueue, durability."""

from __future__ import annotations

import json

import pytest

from underway.ids import new_job_id
from underway.model import JobRecord, Status
from underway.store import (
    Store,
    open_store,
)

from .helpers import (
    LEASE,
    NOW,
    claim,
    claim_one,
    end,
    enqueue,
    get,
    new_job,
    statuses,
)

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


# -- enqueue many -----------------------------------------------------------------------------


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
