"""Wake-up: work enqueued through another connection is signalled."""

from __future__ import annotations

import select

from underway.store import (
    Store,
    open_store,
)

from .helpers import (
    new_job,
)

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
