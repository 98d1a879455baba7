"""Watching jobs for event streams: reads from an entry cursor, and which jobs changed."""

from __future__ import annotations

import time

from underway.model import Status
from underway.store import ClaimRequest, Lease, Outcome, ProgressWrite, Store, open_store
from underway.store.base import JobChanges

from .helpers import NOW, claim_one, enqueue, finish


def since(store: Store, job_id: str, after_seq: int) -> JobChanges | None:
    return store.jobs_since([(job_id, after_seq)]).get(job_id)


def test_jobs_since_returns_only_entries_after_each_cursor(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    first = ProgressWrite(lease, total=3, processed=1, results=[{"item": 1}], errors=["e1"])
    assert store.job_write_progress("w1", [first]) == []
    everything = since(store, job_id, 0)
    assert everything is not None
    assert everything.record.results == ({"item": 1},) and everything.record.errors == ("e1",)
    assert everything.record.progress_processed == 1 and everything.last_seq > 0
    second = ProgressWrite(lease, total=3, processed=2, results=[{"item": 2}, {"item": 3}])
    assert store.job_write_progress("w1", [second]) == []
    newer = since(store, job_id, everything.last_seq)
    assert newer is not None
    assert newer.record.results == ({"item": 2}, {"item": 3}) and newer.record.errors == ()
    assert newer.record.progress_processed == 2 and newer.last_seq > everything.last_seq
    # Nothing new: the same cursor comes back, with the row as it is now.
    assert finish(store, lease, Status.COMPLETED, result={"ok": True}) == []
    last = since(store, job_id, newer.last_seq)
    assert last is not None and last.last_seq == newer.last_seq
    assert last.record.results == () and last.record.status == Status.COMPLETED
    # Several jobs in one read, each from its own cursor; one that does not exist is left out.
    other_id = enqueue(store)
    both = store.jobs_since([(job_id, 0), (other_id, 0), ("01J0000000000000000000NONE", 0)])
    assert set(both) == {job_id, other_id}
    assert len(both[job_id].record.results) == 3 and both[other_id].record.results == ()


def changed_after(store: Store, job_id: str) -> set[str] | None:
    """What watch_changes says once it says anything (a notification may take a moment)."""
    deadline = time.monotonic() + 10
    while True:
        changed = store.watch_changes()
        if changed is None or job_id in changed or time.monotonic() > deadline:
            return changed
        time.sleep(0.02)


def test_watch_changes_names_jobs_another_connection_changed(store: Store) -> None:
    other = open_store(store.url)
    try:
        job_id = enqueue(other)
        lease = claim_one(other, job_id)
        assert store.watch_changes() is None  # the first call: anything may have changed
        assert store.watch_changes() == set()  # nothing since
        other.job_write_progress("w1", [ProgressWrite(lease, processed=1)])
        changed = changed_after(store, job_id)
        assert changed is None or job_id in changed  # SQLite: "something"; PostgreSQL: the id
        assert store.watch_changes() == set()
        assert finish(other, lease, Status.FAILED, error="boom") == []
        changed = changed_after(store, job_id)
        assert changed is None or job_id in changed
        other.job_retry(job_id, time.time())
        changed = changed_after(store, job_id)
        assert changed is None or job_id in changed
        other.job_cancel(job_id, time.time())
        changed = changed_after(store, job_id)
        assert changed is None or job_id in changed
    finally:
        other.close()


def test_a_batch_too_large_for_one_notification_still_says_something_changed(
    store: Store,
) -> None:
    other = open_store(store.url)
    try:
        ids = [enqueue(other) for _ in range(400)]  # 400 ids: more than one notification holds
        claimed = other.job_claim("w1", ClaimRequest([], 400, 30.0, NOW))
        assert len(claimed) == 400
        store.watch_changes()
        outcomes = [Outcome(Lease(r.id, r.attempts), Status.COMPLETED, NOW + 1) for r in claimed]
        assert other.job_finish("w1", outcomes) == []
        changed = changed_after(store, ids[-1])
        assert changed is None or set(ids) <= changed
    finally:
        other.close()
