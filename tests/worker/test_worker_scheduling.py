"""Which job runs when: priorities (higher first, FIFO among equals) and delays."""

from __future__ import annotations

import pytest

from .conftest import Harness

pytestmark = pytest.mark.slow

ONE_SLOT = ("--processes", "1", "--concurrency", "1")


def test_higher_priority_runs_first_and_equal_priorities_in_dispatch_order(uw: Harness) -> None:
    dispatched = [
        ("low-1", 0),
        ("high-1", 5),
        ("mid-1", 1),
        ("high-2", 5),
        ("low-2", 0),
        ("negative", -3),
        ("mid-2", 1),
        ("top", 9),
        ("low-3", 0),
    ]
    for label, priority in dispatched:
        uw.app.dispatch("record", {"file": "order", "label": label}, priority=priority)
    worker = uw.worker(*ONE_SLOT, "--burst")

    assert worker.wait() == 0, worker.log()
    assert uw.lines("order") == [
        "top",
        "high-1",
        "high-2",
        "mid-1",
        "mid-2",
        "low-1",
        "low-2",
        "low-3",
        "negative",
    ]


def test_a_delayed_job_does_not_start_before_its_time(uw: Harness) -> None:
    delay = 1.5
    worker = uw.worker(*ONE_SLOT, "--sleep", "0.1")
    uw.wait(uw.dispatch("record", label="first"))
    # The worker is up and idle, with a free slot, when the delayed job arrives.
    later = uw.app.dispatch("record", {"label": "later"}, delay=delay)
    document = uw.wait(later)

    assert document["status"] == "completed", worker.log()
    assert document["attempts"] == 1
    record = uw.app.store.job_get(later)
    assert record is not None and record.started_at is not None
    assert record.started_at >= record.created_at + delay
    assert document["started_at"] >= document["available_at"]


def test_an_idle_worker_is_woken_by_a_dispatch_not_by_its_slow_poll(uw: Harness) -> None:
    # With a 60 s poll, only the wake-up (LISTEN/NOTIFY, or SQLite's data_version check) can
    # start these jobs within the test's time.
    worker = uw.worker(*ONE_SLOT, "--sleep", "60")
    uw.wait(uw.dispatch("record", label="first"), timeout=60)
    for label in ("second", "third"):
        job_id = uw.dispatch("record", label=label)
        assert uw.wait(job_id, timeout=20)["status"] == "completed", worker.log()
