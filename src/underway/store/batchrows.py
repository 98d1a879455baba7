"""What every backend computes the same way for batches: rows to records, the groups children
are written in, which callbacks a settled batch dispatches, and the errors of refused actions.
Pure functions; the backends own all I/O (store/<backend>/batches.py).

A batch's counters are kept by triggers on the jobs table (the batches migration of each
backend); the backends only insert, read, cancel and retry children, and settle callbacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import codec
from ..errors import BatchNotFound, InvalidTransition
from ..model import BatchRecord, NewBatch, NewJob, Status
from .rows import NamedRow, insert_row

# Children are written in one transaction per this many at most: a batch of any size is
# created in bounded memory, and no transaction holds the database for long.
CHILDREN_PER_TRANSACTION = 1000
CALLBACKS = ("on_failure", "on_success", "on_complete")


def child_groups(children: Iterable[NewJob]) -> Iterator[tuple[list[NewJob], bool]]:
    """The children in groups of at most CHILDREN_PER_TRANSACTION, each with whether it is the
    last; taken from the iterable as they are written, one group ahead."""
    source = iter(children)
    group = _take(source)
    while group:
        following = _take(source)
        yield group, not following
        group = following


def _take(source: Iterator[NewJob]) -> list[NewJob]:
    group = []
    for job in source:
        group.append(job)
        if len(group) == CHILDREN_PER_TRANSACTION:
            break
    return group


def items_of(job: NewJob) -> int:
    """How many items a child counts for: the length of its "items" argument (a list), as the
    triggers count it."""
    items = job.args.get("items")
    return len(items) if isinstance(items, list | tuple) else 0


def child_row(job: NewJob, args: str) -> tuple[Any, ...]:
    """A child's values: those of insert_row, then its batch id."""
    return (*insert_row(job, args), job.batch_id)


def batch_params(batch: NewBatch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "name": batch.name,
        "task": batch.task,
        "owner": batch.owner,
        "queue": batch.queue,
        "priority": batch.priority,
        "chunk_size": batch.chunk_size,
        "allow_failures": int(batch.allow_failures),
        "on_success": batch.on_success,
        "on_failure": batch.on_failure,
        "on_complete": batch.on_complete,
        "callback_options": codec.dumps(batch.callback_options),
        "created_at": batch.created_at,
    }


def batch_record(row: NamedRow) -> BatchRecord:
    """A batches row, read by column name; JSON columns arrive as text."""
    return BatchRecord(
        id=row["id"],
        task=row["task"],
        queue=row["queue"],
        priority=row["priority"],
        chunk_size=row["chunk_size"],
        allow_failures=bool(row["allow_failures"]),
        created_at=row["created_at"],
        name=row["name"],
        owner=row["owner"],
        on_success=row["on_success"],
        on_failure=row["on_failure"],
        on_complete=row["on_complete"],
        callback_options=codec.loads(row["callback_options"]) or {},
        completed_at=row["completed_at"],
        cancelled_at=row["cancelled_at"],
        building=row["building"],
        items_total=row["items_total"],
        items_processed=row["items_processed"],
        items_succeeded=row["items_succeeded"],
        items_failed=row["items_failed"],
        jobs_total=row["jobs_total"],
        jobs_pending=row["jobs_pending"],
        jobs_processing=row["jobs_processing"],
        jobs_completed=row["jobs_completed"],
        jobs_failed=row["jobs_failed"],
        jobs_cancelled=row["jobs_cancelled"],
        usage=codec.loads(row["usage"]) or {},
        progress_current=row["progress_current"],
        callbacks_due=bool(row["callbacks_due"]),
        failure_due=bool(row["failure_due"]),
        success_called=bool(row["success_called"]),
        runs=row["runs"],
    )


@dataclass(frozen=True, slots=True)
class Settlement:
    """What settling a batch does: the callbacks to dispatch, and its flags afterwards."""

    callbacks: list[str]
    params: dict[str, Any]


def settlement(record: BatchRecord) -> Settlement | None:
    """How to settle a batch read under its lock; None when nothing is due (another settled
    it first). on_failure once per failure_due; on_complete each time it ended; on_success
    the first time it ended with every child completed and every item succeeded."""
    if not (record.callbacks_due or record.failure_due):
        return None
    wanted: set[str] = set()
    if record.failure_due:
        wanted.add("on_failure")
    success = record.success_called
    if record.callbacks_due:
        wanted.add("on_complete")
        if not success and record.status == Status.COMPLETED:
            success = record.items_succeeded == record.items_total
            if success:
                wanted.add("on_success")
    callbacks = [kind for kind in CALLBACKS if kind in wanted and getattr(record, kind)]
    params = {"id": record.id, "success_called": int(success)}
    return Settlement(callbacks, params)


def batch_not_found(batch_id: str) -> BatchNotFound:
    return BatchNotFound(f"no batch with id {batch_id}")


def cancel_refused(record: BatchRecord) -> InvalidTransition:
    return InvalidTransition(
        f"cannot cancel batch {record.id}: it is {record.status.value}, not pending or processing"
    )


def retry_refused(record: BatchRecord) -> InvalidTransition:
    return InvalidTransition(
        f"cannot retry batch {record.id}: it has no failed or cancelled jobs "
        f"(it is {record.status.value})"
    )


def add_refused(record: BatchRecord) -> InvalidTransition:
    return InvalidTransition(
        f"cannot add to batch {record.id}: it is {record.status.value}; items can be added "
        "only while it is pending or processing"
    )


def error_entry(job_id: str, error: str | None, args: str | None) -> dict[str, Any]:
    """One failed child in a batch's errors: its id, its error and the items it was given."""
    items = (codec.loads(args) or {}).get("items")
    return {"job_id": job_id, "error": error, "items": items}
