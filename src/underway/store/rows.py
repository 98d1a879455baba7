"""What every backend computes the same way: rows to records, requests to query parameters, the
page of a job list, the stats. Pure functions and one mixin; the backends own all I/O.

Job rows are read by position in JOB_COLUMNS order (much faster than by name), so every backend's
jobs table has its columns in that order, and JSON columns arrive as text to be decoded here.
Other rows (workers, counts) are read by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from .. import codec
from ..errors import InvalidTransition
from ..model import ClaimRequest, JobRecord, Lease, NewJob, Status
from .base import JobChanges, JobPage, Stats, WorkerInfo

# A worker that has not been seen for a day is forgotten by the next lease rescue.
WORKERS_FORGOTTEN_AFTER = 24 * 3600.0
WORKER_LOST = "WorkerLost: the worker stopped renewing its lease"

# Live output is stored in chunks of at most this many characters, so that a read of a little
# from anywhere in it loads at most two chunks' worth.
OUTPUT_CHUNK = 65536
# Character offsets beyond any output a job can hold (and within every backend's integers).
OFFSET_CEILING = 2**31 - 1

# The jobs table's columns in table order: rows are unpacked by position.
JOB_COLUMNS = (
    "id", "task", "queue", "status", "priority", "owner", "unique_key", "args", "attempts",
    "tries", "max_attempts", "timeout", "backoff", "created_at", "available_at", "started_at",
    "completed_at", "worker_id", "lease_expires_at", "progress_total", "progress_processed",
    "progress_current", "usage", "checkpoint", "result", "error", "traceback", "output_length",
    "progress_rate", "batch_id",
)  # fmt: skip


class NamedRow(Protocol):
    """A row read by column name (sqlite3.Row, psycopg's dict_row)."""

    def __getitem__(self, name: str, /) -> Any: ...


def job_record(
    row: Sequence[Any], results: tuple[Any, ...] = (), errors: tuple[str, ...] = ()
) -> JobRecord:
    """The record of a jobs row in JOB_COLUMNS order, with its results and errors if read."""
    (job_id, task, queue, status, priority, owner, unique_key, args, attempts, _tries,
     max_attempts, timeout, backoff, created_at, available_at, started_at, completed_at,
     worker_id, lease_expires_at, progress_total, progress_processed, progress_current, usage,
     checkpoint, result, error, traceback, output_length, progress_rate,
     batch_id) = row  # fmt: skip
    loads = codec.loads
    return JobRecord(
        id=job_id,
        task=task,
        queue=queue,
        status=Status(status),
        priority=priority,
        args=loads(args),
        attempts=attempts,
        max_attempts=max_attempts,
        timeout=timeout,
        backoff=backoff,
        created_at=created_at,
        available_at=available_at,
        owner=owner,
        unique_key=unique_key,
        started_at=started_at,
        completed_at=completed_at,
        worker_id=worker_id,
        lease_expires_at=lease_expires_at,
        progress_total=progress_total,
        progress_processed=progress_processed,
        progress_current=progress_current,
        usage=loads(usage) or {},
        checkpoint=loads(checkpoint),
        result=loads(result),
        error=error,
        traceback=traceback,
        results=results,
        errors=errors,
        output_length=output_length,
        progress_rate=progress_rate,
        batch_id=batch_id,
    )


def output_pieces(text: str) -> list[tuple[int, str]]:
    """A write's output as chunks of at most OUTPUT_CHUNK characters: (position in the write,
    text)."""
    return [(at, text[at : at + OUTPUT_CHUNK]) for at in range(0, len(text), OUTPUT_CHUNK)]


def output_bounds(offset: int, limit: int) -> tuple[int, int]:
    """Where a job_output read starts and ends (exclusive), within every backend's integers."""
    start = min(max(offset, 0), OFFSET_CEILING)
    return start, min(start + max(limit, 0), OFFSET_CEILING)


def output_text(rows: Sequence[Sequence[Any]], offset: int, limit: int) -> tuple[str, int] | None:
    """job_output's answer from rows of (output_length, start_offset, body), the chunks that
    cover the read in order; no rows: no such job. A job without such chunks has one row whose
    chunk columns are NULL."""
    if not rows:
        return None
    length = int(rows[0][0])
    end = min(offset + max(limit, 0), length)
    parts = [
        body[max(0, offset - start) : end - start]
        for _, start, body in rows
        if start is not None and start < end
    ]
    return "".join(parts), length


def in_claim_order(rows: Iterable[Sequence[Any]]) -> list[JobRecord]:
    """UPDATE ... RETURNING yields rows in no promised order: put a claimed batch back in claim
    order, higher priority first, then oldest first (ids are time-ordered)."""
    return sorted((job_record(row) for row in rows), key=lambda job: (-job.priority, job.id))


def insert_params(job: NewJob, args: str) -> dict[str, Any]:
    """A new job's row, its arguments already encoded as JSON text (each backend checks them)."""
    return {
        "id": job.id,
        "task": job.task,
        "queue": job.queue,
        "priority": job.priority,
        "owner": job.owner,
        "unique_key": job.unique_key,
        "args": args,
        "tries": job.max_attempts,
        "timeout": job.timeout,
        "backoff": job.backoff,
        "created_at": job.created_at,
        "available_at": job.available_at,
    }


def insert_row(job: NewJob, args: str) -> tuple[Any, ...]:
    """A new job's values for a many-row insert, in the order id, task, queue, priority, owner,
    args, tries, max_attempts, timeout, backoff, created_at, available_at."""
    return (
        job.id,
        job.task,
        job.queue,
        job.priority,
        job.owner,
        args,
        job.max_attempts,
        job.max_attempts,
        job.timeout,
        job.backoff,
        job.created_at,
        job.available_at,
    )


def claim_params(worker_id: str, request: ClaimRequest) -> dict[str, Any]:
    """Parameters of a batch claim; each queue's statement sets "limit" to what is left."""
    return {
        "worker_id": worker_id,
        "lease_expires_at": request.now + request.lease_seconds,
        "now": request.now,
        "limit": request.limit,
        "min_tries": request.min_tries,
    }


def claim_one_params(
    worker_id: str, job_id: str, lease_seconds: float, now: float
) -> dict[str, Any]:
    return {
        "id": job_id,
        "worker_id": worker_id,
        "lease_expires_at": now + lease_seconds,
        "now": now,
    }


def release_params(
    worker_id: str, leases: Sequence[Lease], now: float, **extra: Any
) -> list[dict[str, Any]]:
    return [
        {"id": lease.job_id, "attempt": lease.attempt, "worker_id": worker_id, "now": now, **extra}
        for lease in leases
    ]


def retry_refused(job_id: str) -> InvalidTransition:
    """A retry that would put a second job with one unique key into pending or processing."""
    return InvalidTransition(
        f"cannot retry job {job_id}: another job with its unique key is pending or running"
    )


def rescued(rows: Iterable[NamedRow]) -> list[tuple[str, Status]]:
    return [(row["id"], Status(row["status"])) for row in rows]


def worker_params(worker: WorkerInfo, queues: object) -> dict[str, Any]:
    """A worker's row, its queues already in the backend's form."""
    return {
        "id": worker.id,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "queues": queues,
        "processes": worker.processes,
        "concurrency": worker.concurrency,
        "started_at": worker.started_at,
        "last_seen_at": worker.last_seen_at,
        "lease_seconds": worker.lease_seconds,
        "running": worker.running,
    }


def worker_info(row: NamedRow, queues: tuple[str, ...]) -> WorkerInfo:
    """A workers row, its queues already read from the backend's form."""
    return WorkerInfo(
        id=row["id"],
        hostname=row["hostname"],
        pid=row["pid"],
        queues=queues,
        processes=row["processes"],
        concurrency=row["concurrency"],
        started_at=row["started_at"],
        last_seen_at=row["last_seen_at"],
        lease_seconds=row["lease_seconds"],
        running=row["running"],
    )


def stats_of(
    count_rows: Iterable[NamedRow], finished_rows: Iterable[NamedRow], workers: list[WorkerInfo]
) -> Stats:
    """Stats from the stats_counts and stats_finished_since rows and the workers alive."""
    counts: dict[str, dict[str, int]] = {}
    for row in count_rows:
        counts.setdefault(row["queue"], {})[row["status"]] = row["n"]
    finished = {row["status"]: row["n"] for row in finished_rows}
    return Stats(counts, finished.get("completed", 0), finished.get("failed", 0), workers)


class ListsJobs:
    """job_list for a backend that supplies _job_list_rows: the filters, one row more than the
    page to know whether another follows, and the cursor (the last id of the page)."""

    def job_list(
        self,
        *,
        status: Status | None = None,
        task: str | None = None,
        queue: str | None = None,
        owner: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPage:
        params = {
            "status": status.value if status else None,
            "task": task,
            "queue": queue,
            "owner": owner,
            "cursor": cursor,
            "limit": limit + 1,
        }
        rows = self._job_list_rows(params)
        jobs = [job_record(row) for row in rows[:limit]]
        next_cursor = jobs[-1].id if len(rows) > limit and jobs else None
        return JobPage(jobs, next_cursor)

    def _job_list_rows(self, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        """Rows of the job_list query, newest first, at most params["limit"]."""
        raise NotImplementedError


def job_changes(
    row: Sequence[Any], entries: Sequence[tuple[int, str, Any]], after_seq: int
) -> JobChanges:
    """A jobs row (JOB_COLUMNS order) with its entries after a sequence number, each entry as
    (seq, kind, decoded body), in seq order."""
    results = tuple(body for _, kind, body in entries if kind == "result")
    errors = tuple(body for _, kind, body in entries if kind == "error")
    last_seq = entries[-1][0] if entries else after_seq
    return JobChanges(job_record(row, results, errors), last_seq)
