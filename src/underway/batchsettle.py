"""Settling batches: dispatching the callbacks of a batch that ended, or whose child failed a
batch that allows no failure, exactly once however many processes try at the same time.

The store marks a batch due (callbacks_due when it ends, failure_due when a child fails a batch
with allow_failures=False) in the transaction that moved its last child. settle_due() finds the
batches due and, for each, builds the jobs of its callbacks here and hands them to
Store.batch_settle, which clears the flags only if they are still set and inserts the jobs only
if it cleared them: of several workers racing, exactly one dispatches. Every worker runs
settle_due() as a maintenance duty (worker/maintenance.py); eager mode runs it inline.

A callback is an ordinary durable job of its task, with batch_id= as its one keyword argument,
the batch's owner, and the options its task had when the batch was created (queue: the batch's
own queue when one was given, else the task's).
"""

from __future__ import annotations

import time
from typing import Any

from . import codec
from .ids import new_job_id
from .model import BatchRecord, NewJob
from .store import Store

CALLBACKS = ("on_success", "on_failure", "on_complete")
# Batches settled per pass of the maintenance duty; more wait for its next pass.
SETTLE_PER_PASS = 100


def callback_job(record: BatchRecord, kind: str, now: float) -> NewJob | None:
    """The job of one of the batch's callbacks, or None when it has none of that kind."""
    task = getattr(record, kind)
    if task is None:
        return None
    options: dict[str, Any] = record.callback_options.get(kind, {})
    args = {"batch_id": record.id}
    return NewJob(
        id=new_job_id(),
        task=task,
        queue=options.get("queue", record.queue),
        args=args,
        priority=options.get("priority", record.priority),
        max_attempts=options.get("tries", 1),
        timeout=options.get("timeout"),
        backoff=options.get("backoff", 1.0),
        created_at=now,
        available_at=now,
        owner=record.owner,
        args_json=codec.dumps(args),
    )


def settle(store: Store, record: BatchRecord, now: float) -> list[tuple[str, str, str]]:
    """Settle one batch: (callback, job id, task) of each callback this call dispatched."""
    jobs = {kind: job for kind in CALLBACKS if (job := callback_job(record, kind, now))}
    dispatched = store.batch_settle(record.id, jobs, now)
    return [(kind, job_id, jobs[kind].task) for kind, job_id in dispatched]


def settle_due(
    store: Store, now: float | None = None, limit: int = SETTLE_PER_PASS
) -> list[tuple[str, str, str, str]]:
    """Settle the batches that are due: (batch id, callback, job id, task) of each callback
    this call dispatched (none for a batch another process settled first)."""
    now = time.time() if now is None else now
    dispatched = []
    for record in store.batch_due(limit):
        dispatched += [(record.id, *done) for done in settle(store, record, now)]
    return dispatched
