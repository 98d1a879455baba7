"""Batches run by three real workers racing: each callback exactly once, retry runs only the
failed children, cancel stops a batch mid-way, and allow_failures=False stops the rest and runs
on_failure once. One set of workers serves every promise, in turn."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from .conftest import Harness, wait_until

pytestmark = pytest.mark.slow

CALLBACKS = {"on_complete": "batch_called", "on_success": "batch_succeeded"}
# Longer than two passes of every worker's settle duty (0.5 s): a second dispatch would show.
SETTLED = 1.5


def ended(uw: Harness, batch_id: str, status: str, callbacks: int) -> dict[str, Any]:
    """Wait until the batch has that status and its callbacks noted that many lines."""
    seen: list[Any] = []

    def check() -> dict[str, Any] | None:
        document = uw.app.get_batch(batch_id, limit=1)
        assert document is not None
        lines = [line for line in uw.lines("batch-callbacks") if line.endswith(batch_id)]
        seen[:] = [document["status"], document["jobs"], lines]
        return document if document["status"] == status and len(lines) >= callbacks else None

    try:
        wait_until(check, f"batch {batch_id} {status} with {callbacks} callbacks")
    except BaseException:
        logs = "\n".join(worker.log()[-3000:] for worker in uw.workers)
        print(f"last seen: {seen}\n{logs}")
        raise
    document = uw.app.get_batch(batch_id, limit=1000)
    assert document is not None
    return document


def callbacks_of(uw: Harness, batch_id: str) -> Counter[str]:
    return Counter(
        line.split()[0] for line in uw.lines("batch-callbacks") if line.endswith(batch_id)
    )


def noted(uw: Harness) -> list[tuple[str, str]]:
    return [tuple(line.split(" ", 1)) for line in uw.lines("batch-items")]  # type: ignore[misc]


def test_three_workers_run_batches_and_their_callbacks_exactly_once(uw: Harness) -> None:
    for _ in range(3):
        uw.worker("--processes", "1", "--concurrency", "3", "--lease", "5")
    racing(uw)
    retried(uw)
    cancelled(uw)
    stopped_by_a_failure(uw)
    time.sleep(SETTLED)
    for line, times in Counter(uw.lines("batch-callbacks")).items():
        assert times == 1 or line.startswith("complete"), f"{line} noted {times} times"


def racing(uw: Harness) -> None:
    """Sixty one-item children spread over three workers: the last ones end together."""
    batch_id = uw.app.batch("batch_items", list(range(60)), **CALLBACKS)
    document = ended(uw, batch_id, "completed", 2)
    assert document["progress"] == {
        "total": 60, "processed": 60, "succeeded": 60, "failed": 0, "percent": 100.0,
        "current": None,
    }  # fmt: skip
    assert document["usage"] == {"tokens": 60}
    assert sorted(r["item"] for r in document["results"]) == list(range(60))
    time.sleep(SETTLED)
    assert callbacks_of(uw, batch_id) == {"complete": 1, "success": 1}
    items = Counter(item for _, item in noted(uw))
    assert items == Counter(str(n) for n in range(60))  # each child ran once


def retried(uw: Harness) -> None:
    """Two children fail; retry_batch runs those two only, and on_complete runs again."""
    batch_id = uw.app.batch("batch_items", [1, "fail", 2, 3, "fail"], **CALLBACKS)
    document = ended(uw, batch_id, "failed", 1)
    assert (document["jobs"]["completed"], document["jobs"]["failed"]) == (3, 2)
    assert document["progress"]["succeeded"] == 3
    assert {error["items"][0] for error in document["errors"]} == {"fail"}
    before = Counter(noted(uw))
    (uw.folder / "heal").touch()
    uw.app.retry_batch(batch_id)
    document = ended(uw, batch_id, "completed", 3)
    assert document["progress"]["succeeded"] == 5
    time.sleep(SETTLED)
    assert callbacks_of(uw, batch_id) == {"complete": 2, "success": 1}
    again = Counter(noted(uw)) - before
    assert sorted(item for _, item in again) == ["fail", "fail"]  # nothing that succeeded


def cancelled(uw: Harness) -> None:
    """Forty children that wait to be cancelled, more than three workers take at once (three
    slots each, and at most three times that handed ahead): cancel while some run."""
    batch_id = uw.app.batch("batch_items", ["wait"] * 40, on_complete="batch_called")
    wait_until(
        lambda: (d := uw.app.get_batch(batch_id)) and d["jobs"]["processing"] >= 3,
        "children of the batch to start",
    )
    uw.app.cancel_batch(batch_id)
    document = ended(uw, batch_id, "cancelled", 1)
    assert document["jobs"]["cancelled"] == 40
    started = {job for job, item in noted(uw) if item == "wait"}
    assert 3 <= len(started) < 40
    wait_until(
        lambda: {job for job, item in noted(uw) if item == "stopped"} >= started,
        "the running children to stop",
    )
    time.sleep(SETTLED)
    assert callbacks_of(uw, batch_id) == {"complete": 1}
    assert {job for job, item in noted(uw) if item == "wait"} == started  # none started later


def stopped_by_a_failure(uw: Harness) -> None:
    """allow_failures=False: the first child fails, the rest are cancelled, on_failure once."""
    items = ["crash", *["wait"] * 5]
    batch_id = uw.app.batch(
        "batch_items", items, allow_failures=False, on_failure="batch_failed", **CALLBACKS
    )
    document = ended(uw, batch_id, "failed", 2)
    assert document["jobs"]["failed"] == 1
    assert document["jobs"]["cancelled"] == 5
    time.sleep(SETTLED)
    assert callbacks_of(uw, batch_id) == {"failure": 1, "complete": 1}
