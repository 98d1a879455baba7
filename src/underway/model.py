"""Job records (frozen data, no I/O) and the status document: one JSON shape everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from .codec import dumps


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class NewJob(NamedTuple):
    """What dispatch hands to a store: a job that does not exist yet.

    A named tuple rather than a frozen dataclass: as immutable, and made three times faster,
    which counts when dispatch_many makes thousands."""

    id: str
    task: str
    queue: str
    args: dict[str, Any]
    priority: int
    max_attempts: int
    timeout: float | None
    backoff: float
    created_at: float
    available_at: float
    owner: str | None = None
    unique_key: str | None = None
    # args as JSON text when the dispatcher already encoded them (it checks they are JSON).
    args_json: str | None = None
    # The batch this job is a child of (batches.py); None for a job of its own.
    batch_id: str | None = None

    def encoded_args(self) -> str:
        return self.args_json if self.args_json is not None else dumps(self.args)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as stored. Times are seconds since the epoch (UTC)."""

    id: str
    task: str
    queue: str
    status: Status
    priority: int
    args: dict[str, Any]
    attempts: int
    max_attempts: int
    timeout: float | None
    backoff: float
    created_at: float
    available_at: float
    owner: str | None = None
    unique_key: str | None = None
    started_at: float | None = None
    completed_at: float | None = None
    worker_id: str | None = None
    lease_expires_at: float | None = None
    progress_total: int | None = None
    progress_processed: int = 0
    progress_current: str | None = None
    usage: dict[str, float] = field(default_factory=dict)
    checkpoint: Any = None
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    results: tuple[dict[str, Any], ...] = ()
    errors: tuple[str, ...] = ()
    # Characters of live output (job.stream) stored so far, over every attempt.
    output_length: int = 0
    # Items per second as the attempt last reported it; None until it was measured.
    progress_rate: float | None = None
    # The batch this job is a child of; None for a job of its own.
    batch_id: str | None = None


class NewBatch(NamedTuple):
    """What app.batch hands to a store with the batch's children: a batch that does not exist
    yet. Callbacks are task names; callback_options holds, per callback ("on_success",
    "on_failure", "on_complete"), the options of its job: queue, priority, tries, timeout and
    backoff."""

    id: str
    task: str
    queue: str
    priority: int
    chunk_size: int
    allow_failures: bool
    created_at: float
    callback_options: dict[str, dict[str, Any]]
    name: str | None = None
    owner: str | None = None
    on_success: str | None = None
    on_failure: str | None = None
    on_complete: str | None = None


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A batch as stored: counters the store keeps in step with its children (see the batches
    migration of each backend), never counted from the children when read."""

    id: str
    task: str
    queue: str
    priority: int
    chunk_size: int
    allow_failures: bool
    created_at: float
    name: str | None = None
    owner: str | None = None
    on_success: str | None = None
    on_failure: str | None = None
    on_complete: str | None = None
    callback_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    completed_at: float | None = None  # when it last ended; None while it runs
    cancelled_at: float | None = None
    building: int = 0  # calls adding children that are still under way
    items_total: int = 0
    items_processed: int = 0
    items_succeeded: int = 0
    items_failed: int = 0
    jobs_total: int = 0
    jobs_pending: int = 0
    jobs_processing: int = 0
    jobs_completed: int = 0
    jobs_failed: int = 0
    jobs_cancelled: int = 0
    usage: dict[str, float] = field(default_factory=dict)
    progress_current: str | None = None  # the latest current a child reported
    callbacks_due: bool = False  # it ended: on_complete (and maybe on_success) to dispatch
    failure_due: bool = False  # a child failed and allow_failures is off: on_failure to run
    success_called: bool = False
    runs: int = 0  # how many times it ended (a retry makes it run again)

    @property
    def status(self) -> Status:
        """cancelled once cancelled; while it runs, processing when any child is processing or
        has finished, pending while all are pending; once ended, failed when a child failed or
        was cancelled, else completed."""
        if self.cancelled_at is not None:
            return Status.CANCELLED
        if self.completed_at is None:
            finished = self.jobs_completed + self.jobs_failed + self.jobs_cancelled
            if self.jobs_processing or finished:
                return Status.PROCESSING
            return Status.PENDING
        if self.jobs_failed or self.jobs_cancelled:
            return Status.FAILED
        return Status.COMPLETED


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's claim on one job: the fencing token for all its writes."""

    job_id: str
    attempt: int


@dataclass(slots=True)
class ProgressWrite:
    """A job's progress as its attempt last reported it. Totals and the rate are absolute;
    entries and output are new (output: the text streamed since the last write)."""

    lease: Lease
    total: int | None = None
    processed: int = 0
    current: str | None = None
    usage: dict[str, float] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    checkpoint: Any = None
    has_checkpoint: bool = False
    output: str = ""
    rate: float | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended. status is completed, failed, cancelled, or pending for a retry."""

    lease: Lease
    status: Status
    finished_at: float
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    retry_at: float | None = None
    progress: ProgressWrite | None = None


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """What job_claim takes, for job_finish_and_claim to claim after finishing."""

    queues: Sequence[str]
    limit: int
    lease_seconds: float
    now: float
    min_tries: int = 1


def merge_progress(older: ProgressWrite | None, newer: ProgressWrite) -> ProgressWrite:
    """One write that stands for both: the newer totals, every entry, the output of both in
    order, the latest checkpoint and the latest rate known."""
    if older is None:
        return newer
    return ProgressWrite(
        newer.lease,
        newer.total,
        newer.processed,
        newer.current,
        newer.usage,
        older.results + newer.results,
        older.errors + newer.errors,
        newer.checkpoint if newer.has_checkpoint else older.checkpoint,
        newer.has_checkpoint or older.has_checkpoint,
        older.output + newer.output,
        newer.rate if newer.rate is not None else older.rate,
    )


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def percent(record: JobRecord) -> float | None:
    if record.progress_total:
        return round(min(100.0, 100.0 * record.progress_processed / record.progress_total), 1)
    if record.status == Status.COMPLETED:
        return 100.0
    return None


def rate_per_s(record: JobRecord) -> float | None:
    """The stored rate to four significant digits: the rest is noise of the measuring."""
    rate = record.progress_rate
    return None if rate is None else float(f"{rate:.4g}")


def eta_s(record: JobRecord) -> float | None:
    """Seconds left at the stored rate, to a tenth: (total - processed) / rate, only while the
    job is processing with a known total and a rate above 0. None in every other case: not
    yet measured, no total, not started, or finished (nothing is left to estimate then)."""
    rate, total = record.progress_rate, record.progress_total
    if record.status != Status.PROCESSING or total is None or rate is None or rate <= 0:
        return None
    return round(max(0.0, (total - record.progress_processed) / rate), 1)


def status_document(record: JobRecord) -> dict[str, Any]:
    """The status document: the same shape for Python, the CLI's --json and HTTP.

    "output_length" counts the characters of live output (job.stream) stored over all
    attempts. progress "rate_per_s" is items per second as the running attempt last measured
    it (None until measured); "eta_s" is the seconds left at that rate while the job is
    processing (see eta_s: None otherwise, finished jobs included)."""
    return {
        "job_id": record.id,
        "task": record.task,
        "queue": record.queue,
        "status": record.status.value,
        "priority": record.priority,
        "owner": record.owner,
        "batch_id": record.batch_id,
        "args": record.args,
        "progress": {
            "total": record.progress_total,
            "processed": record.progress_processed,
            "percent": percent(record),
            "current": record.progress_current,
            "rate_per_s": rate_per_s(record),
            "eta_s": eta_s(record),
        },
        "output_length": record.output_length,
        "results": list(record.results),
        "errors": list(record.errors),
        "usage": dict(record.usage),
        "result": record.result,
        "error": record.error,
        "attempts": record.attempts,
        "max_attempts": record.max_attempts,
        "created_at": iso(record.created_at),
        "available_at": iso(record.available_at),
        "started_at": iso(record.started_at),
        "completed_at": iso(record.completed_at),
    }
