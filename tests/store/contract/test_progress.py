"""Progress writes: totals, usage, result and error entries, checkpoints."""

from __future__ import annotations

from typing import Any

from underway.model import Status
from underway.store import (
    ProgressWrite,
    Store,
)

from .helpers import (
    claim_one,
    enqueue,
    get,
)

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
