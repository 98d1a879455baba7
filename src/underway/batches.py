"""Batches: one progress over many jobs, callbacks run exactly once, retrying only what failed.

app.batch(task, items, chunk_size=...) cuts items into chunks; each chunk is one child job of
task, which receives items=[...] and reports per item with job.add_result() and job.advance().
Underway takes these functions as its methods (app.batch, app.get_batch, ...).

What was decided, and where it is done:

- Counters, not scans. The batch's row holds counters per child status, items total,
  processed, succeeded and failed, and the summed usage; triggers on the jobs table count
  them in the transaction that moves each child (the batches migration of each backend says
  how an item is counted, and why on PostgreSQL a transaction never waits for the batch's
  row: it leaves its sum to the next fold when the row is busy, and reads add it). get_batch
  reads that row, a page of results through the index of the batch's children that have
  started (offset and limit are over results), and the failed children only when there are
  some: the same cost for ten items or a hundred thousand.
- Status is derived from the counters when read (BatchRecord.status).
- Creation in bounded memory: children are made from the items as they are written, a
  transaction per 1,000 at most; the batch cannot end before the last is written. Every item
  is checked first (JSON, like dispatch), so bad input stores nothing.
- Callbacks (tasks or task names, checked before anything is stored) are durable jobs with
  batch_id= as their argument, dispatched exactly once by batchsettle.py: on_complete each time
  the batch ends, on_success the first time it ends with every item succeeded, on_failure once
  when a child fails a batch with allow_failures=False (its other children are cancelled).
- retry_batch runs the failed and cancelled children again; completed ones keep their results,
  and a retried child's new results replace its earlier ones in the counts. on_complete runs
  again when the batch ends again.
- Eager mode runs the children where the batch is made, then settles its callbacks inline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from . import codec
from .batchsettle import CALLBACKS, settle
from .eager import run_eagerly
from .errors import BatchNotFound
from .ids import new_job_id
from .model import BatchRecord, NewBatch, NewJob, iso
from .validation import check_dispatch, check_text, checked_priority, shown, text_problem

if TYPE_CHECKING:
    from .app import Underway
    from .tasks import Task

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def batch(
    app: Underway,
    task_or_name: Task | str,
    items: Sequence[Any],
    *,
    chunk_size: int = 1,
    owner: str | None = None,
    queue: str | None = None,
    priority: int | None = None,
    allow_failures: bool = True,
    on_success: Task | str | None = None,
    on_failure: Task | str | None = None,
    on_complete: Task | str | None = None,
    name: str | None = None,
) -> str:
    """Run task over items, chunk_size items per child job; return the batch id. Items are
    JSON values (a TypeError names the first that is not); callbacks are tasks or task names
    (UnknownTask for one not registered). Nothing is stored when any of it is refused."""
    task = app._task(task_or_name)
    given = {"on_success": on_success, "on_failure": on_failure, "on_complete": on_complete}
    callbacks = {kind: app._task(value) for kind, value in given.items() if value is not None}
    _check_items(items, chunk_size)
    check_text("name", name)
    chosen_queue = queue or task.options.queue
    check_dispatch(task.name, chosen_queue, owner, None)
    chosen_priority = checked_priority(task.options.priority if priority is None else priority)
    for _ in _encoded_chunks(task.name, items, chunk_size):
        pass  # every item is checked before anything is stored
    record = NewBatch(
        id=new_job_id(),
        task=task.name,
        queue=chosen_queue,
        priority=chosen_priority,
        chunk_size=chunk_size,
        allow_failures=bool(allow_failures),
        created_at=time.time(),
        name=name,
        owner=owner,
        callback_options={
            kind: _job_options(callback, queue, priority) for kind, callback in callbacks.items()
        },
        **{kind: callback.name for kind, callback in callbacks.items()},
    )
    made: list[str] = []
    try:
        app.store.batch_create(
            record, _children_for(record, task, items, made if app.eager else None)
        )
    except Exception:
        _abandon(app, record.id)
        raise
    if app.eager:
        _run_eagerly(app, task, record.id, made)
    return record.id


def get_batch(
    app: Underway, batch_id: str, offset: int = 0, limit: int = DEFAULT_PAGE
) -> dict[str, Any] | None:
    """The batch document, or None: counters, a page of results (offset, limit) and the
    failed children (at most limit). ValueError for a negative offset or a limit outside
    1..1000."""
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise ValueError(
            f"offset must be 0 or more and limit between 1 and {MAX_PAGE}, got {offset} and {limit}"
        )
    if not _could_exist(batch_id):
        return None
    record = app.store.batch_get(batch_id)
    if record is None:
        return None
    results = app.store.batch_results(batch_id, offset, limit)
    errors = app.store.batch_errors(batch_id, limit) if record.jobs_failed else []
    return batch_document(record, results, errors)


def cancel_batch(app: Underway, batch_id: str) -> dict[str, Any]:
    """Cancel the batch: its pending children never run, its processing ones are stopped by
    their workers. Raises BatchNotFound, or InvalidTransition once it has ended."""
    _must_exist(batch_id)
    app.store.batch_cancel(batch_id, time.time())
    if app.eager:
        _settle_eagerly(app, batch_id)
    return _document(app, batch_id)


def retry_batch(app: Underway, batch_id: str) -> dict[str, Any]:
    """Run the failed and cancelled children again; completed ones keep their results.
    Raises BatchNotFound, or InvalidTransition (naming why) when none failed or was
    cancelled."""
    _must_exist(batch_id)
    retried = app.store.batch_retry(batch_id, time.time())
    if app.eager:
        record = _record(app, batch_id)
        _run_eagerly(app, app._task(record.task), batch_id, retried)
    return _document(app, batch_id)


def add_to_batch(app: Underway, batch_id: str, items: Sequence[Any]) -> dict[str, Any]:
    """Add items to a batch that is pending or processing, in chunks of its chunk size, as
    children of its task with its options. Raises BatchNotFound, InvalidTransition once it
    has ended or was cancelled, and refuses bad items as batch() does (storing nothing)."""
    _must_exist(batch_id)
    record = _record(app, batch_id)
    task = app._task(record.task)
    _check_items(items, record.chunk_size)
    for _ in _encoded_chunks(task.name, items, record.chunk_size):
        pass
    made: list[str] = []
    app.store.batch_add(batch_id, _children_for(record, task, items, made if app.eager else None))
    if app.eager:
        _run_eagerly(app, task, batch_id, made)
    return _document(app, batch_id)


def batch_document(
    record: BatchRecord, results: list[Any], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    """The batch document: the same shape for Python, the CLI and HTTP. "current" is the
    latest current item a child reported, while any child is processing."""
    total, processed = record.items_total, record.items_processed
    ended = record.completed_at is not None
    return {
        "batch_id": record.id,
        "name": record.name,
        "status": record.status.value,
        "owner": record.owner,
        "progress": {
            "total": total,
            "processed": processed,
            "succeeded": record.items_succeeded,
            "failed": record.items_failed,
            "percent": round(min(100.0, 100.0 * processed / total), 1)
            if total
            else (100.0 if ended else 0.0),
            "current": record.progress_current if record.jobs_processing else None,
        },
        "jobs": {
            "pending": record.jobs_pending,
            "processing": record.jobs_processing,
            "completed": record.jobs_completed,
            "failed": record.jobs_failed,
            "cancelled": record.jobs_cancelled,
        },
        "usage": dict(record.usage),
        "results": results,
        "errors": errors,
        "created_at": iso(record.created_at),
        "completed_at": iso(record.completed_at),
    }


# -- children ------------------------------------------------------------------------------


def _check_items(items: Sequence[Any], chunk_size: int) -> None:
    if isinstance(items, str | bytes | bytearray) or not isinstance(items, Sequence):
        raise TypeError(f"items must be a list of JSON values, got {type(items).__name__}")
    if not items:
        raise ValueError("items must not be empty: a batch needs at least one item")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool):
        raise TypeError(f"chunk_size must be an integer, got {type(chunk_size).__name__}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {shown(chunk_size)}")


def _encoded_chunks(task: str, items: Sequence[Any], chunk_size: int) -> Iterator[str]:
    """Each chunk's arguments as JSON text; a TypeError names the first item that is not
    JSON, as dispatch names the argument."""
    for start in range(0, len(items), chunk_size):
        try:
            yield codec.check_arguments(task, {"items": list(items[start : start + chunk_size])})
        except TypeError:
            for number, item in enumerate(items[start : start + chunk_size], start):
                try:
                    codec.dumps(item)
                except (TypeError, ValueError) as exc:
                    raise TypeError(
                        f"item {number} of the batch for task {task!r} is not "
                        f"JSON-serialisable ({type(item).__name__}: {exc}); pass ids or plain "
                        "data instead"
                    ) from None
            raise


def _children_for(
    record: BatchRecord | NewBatch, task: Task, items: Sequence[Any], made: list[str] | None
) -> Iterator[NewJob]:
    """The child jobs, made as the store takes them; their ids go to made (eager mode)."""
    options = task.options
    for start, encoded in zip(
        range(0, len(items), record.chunk_size),
        _encoded_chunks(task.name, items, record.chunk_size),
        strict=True,
    ):
        now = time.time()
        job = NewJob(
            id=new_job_id(),
            task=task.name,
            queue=record.queue,
            args={"items": list(items[start : start + record.chunk_size])},
            priority=record.priority,
            max_attempts=options.tries,
            timeout=options.timeout,
            backoff=options.backoff,
            created_at=now,
            available_at=now,
            owner=record.owner,
            args_json=encoded,
            batch_id=record.id,
        )
        if made is not None:
            made.append(job.id)
        yield job


def _job_options(task: Task, queue: str | None, priority: int | None) -> dict[str, Any]:
    """What a callback's job is dispatched with: its task's options, the batch's queue and
    priority when they were given."""
    options = task.options
    return {
        "queue": queue or options.queue,
        "priority": options.priority if priority is None else priority,
        "tries": options.tries,
        "timeout": options.timeout,
        "backoff": options.backoff,
    }


# -- eager mode and lookups -----------------------------------------------------------------


def _run_eagerly(app: Underway, task: Task, batch_id: str, job_ids: list[str]) -> None:
    """Run the children here, one by one; a failure that stops the batch is settled at once,
    so that the rest are cancelled before they run. Then its callbacks, here too."""
    for job_id in job_ids:
        run_eagerly(app.store, task, job_id)
        record = app.store.batch_get(batch_id)
        if record is not None and record.failure_due:
            _settle_eagerly(app, batch_id)
    _settle_eagerly(app, batch_id)


def _settle_eagerly(app: Underway, batch_id: str) -> None:
    # A failure settled may end the batch in its own commit: then on_complete is due next.
    for _ in range(len(CALLBACKS)):
        record = app.store.batch_get(batch_id)
        if record is None or not (record.callbacks_due or record.failure_due):
            return
        for _kind, job_id, task_name in settle(app.store, record, time.time()):
            run_eagerly(app.store, app._task(task_name), job_id)


def _abandon(app: Underway, batch_id: str) -> None:
    """A creation that failed after its first transaction left a batch that cannot end: cancel
    it, so that none of its children runs (best effort: the store may be what failed)."""
    try:
        if app.store.batch_get(batch_id) is not None:
            app.store.batch_cancel(batch_id, time.time())
    except Exception:  # the caller gets the first error
        pass


def _record(app: Underway, batch_id: str) -> BatchRecord:
    record = app.store.batch_get(batch_id)
    if record is None:
        raise BatchNotFound(f"no batch with id {batch_id}")
    return record


def _document(app: Underway, batch_id: str) -> dict[str, Any]:
    document = get_batch(app, batch_id)
    if document is None:
        raise BatchNotFound(f"no batch with id {batch_id}")
    return document


def _could_exist(batch_id: str) -> bool:
    return isinstance(batch_id, str) and text_problem(batch_id) is None


def _must_exist(batch_id: str) -> None:
    if not _could_exist(batch_id):
        raise BatchNotFound(f"no batch with id {batch_id!r}")
