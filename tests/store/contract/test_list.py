"""List: newest first, filters, cursor pages."""

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
)

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
