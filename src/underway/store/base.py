"""The Store protocol: the only door to persistence.

Every state change is one statement (or one transaction) that checks the current state, so two
workers can never both claim, or both finish, one job. Writes from a worker are fenced by its
lease: the job id, the attempt number the claim gave it and the worker's id. A write whose lease
no longer matches (the job was rescued, cancelled or re-claimed) changes nothing and is reported
back as refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import InvalidTransition, JobNotFound
from ..model import (
    BatchRecord,
    ClaimRequest,
    JobRecord,
    Lease,
    NewBatch,
    NewJob,
    Outcome,
    ProgressWrite,
    Status,
)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    id: str
    hostname: str
    pid: int
    queues: tuple[str, ...]
    processes: int
    concurrency: int
    started_at: float
    last_seen_at: float
    lease_seconds: float
    running: int = 0


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[JobRecord]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class JobChanges:
    """A job's row with only the results and errors stored after an entry sequence number, and
    the last such number (a cursor for the next read: entries are append-only)."""

    record: JobRecord
    last_seq: int


@dataclass(frozen=True, slots=True)
class Stats:
    counts: dict[str, dict[str, int]]
    completed_last_minute: int
    failed_last_minute: int
    workers: list[WorkerInfo]


class Store(Protocol):
    url: str
    # True when a write mostly waits on a server (its round trips and commit), so a worker
    # overlaps it with its own work; False when it is this process's own CPU work (SQLite).
    writes_wait_on_server: bool

    def schema_ensure(self) -> None:
        """Create or migrate the schema; refuse a database that is not underway's or is newer."""

    def close(self) -> None:
        """Release connections held by this process."""

    def job_enqueue(self, job: NewJob, connection: Any = None) -> str:
        """Insert a pending job and return its id. When job.unique_key is set and a pending or
        processing job already has that key, insert nothing and return that job's id.

        With connection (the caller's own open connection to the same database, inside its
        transaction), the insert joins that transaction: the job exists if and only if the
        caller commits. The caller's transaction is neither begun nor committed here."""

    def job_enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        """Insert pending jobs (without unique keys) in one transaction; return their ids."""

    def job_get(self, job_id: str) -> JobRecord | None:
        """The job with its results and errors, or None."""

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
        """Jobs newest first, without results and errors. cursor is the last id of the previous
        page; next_cursor is None on the last page."""

    def job_claim(self, worker_id: str, claim: ClaimRequest) -> list[JobRecord]:
        """Move up to limit ready pending jobs to processing for this worker, charging an attempt.
        Queues are tried in the given order (empty: all queues); within one, higher priority
        first, then oldest first. A job allowed fewer than min_tries attempts is raised to that
        (the worker's --tries). Returned records carry progress, usage and checkpoint."""

    def job_claim_one(
        self, worker_id: str, job_id: str, lease_seconds: float, now: float
    ) -> JobRecord | None:
        """Claim one given job if it is pending (eager mode runs a job where it was dispatched)."""

    def job_heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease_seconds: float, now: float
    ) -> set[str]:
        """Record the worker as alive and renew its leases; return the ids it still holds. A
        lease not returned was lost (cancelled, rescued): the worker must stop that job."""

    def job_write_progress(self, worker_id: str, writes: Sequence[ProgressWrite]) -> list[str]:
        """Store progress, usage, checkpoint and new entries; return the refused job ids."""

    def job_finish(self, worker_id: str, outcomes: Sequence[Outcome]) -> list[str]:
        """End attempts (with their last progress) in one transaction; return refused ids."""

    def job_finish_and_claim(
        self, worker_id: str, outcomes: Sequence[Outcome], claim: ClaimRequest
    ) -> tuple[list[str], list[JobRecord]]:
        """job_finish, then job_claim, in one transaction: one commit (one WAL flush) for both.
        Returns the refused ids and the claimed records."""

    def job_release(self, worker_id: str, leases: Sequence[Lease], now: float) -> None:
        """Put jobs back to pending without charging the attempt (shutdown, a sibling's crash)."""

    def job_cancel(self, job_id: str, now: float) -> JobRecord:
        """Cancel a pending or processing job. Raises JobNotFound or InvalidTransition."""

    def job_retry(self, job_id: str, now: float) -> JobRecord:
        """Make a failed or cancelled job pending again with a fresh allowance of tries, keeping
        its checkpoint. Raises JobNotFound or InvalidTransition."""

    def job_delete(self, job_id: str) -> bool:
        """Delete a job that is not processing; True if it existed."""

    def job_prune(self, finished_before: float) -> int:
        """Delete finished jobs that ended before the given time; return how many."""

    def job_output(self, job_id: str, offset: int, limit: int) -> tuple[str, int] | None:
        """The job's live output from character (code point) offset, at most limit characters,
        and the job's output_length; None when no such job. An offset at or past the end reads
        "". Only the chunks that hold the text asked for are read."""

    def lease_rescue(self, now: float) -> list[tuple[str, Status]]:
        """Requeue (or fail, when no tries are left) processing jobs whose lease has run out."""

    def stats(self, now: float) -> Stats:
        """Counts per queue and status, recent throughput and the workers alive."""

    def worker_list(self, now: float) -> list[WorkerInfo]:
        """Workers whose last heartbeat is within their lease of now, oldest first."""

    def worker_remove(self, worker_id: str) -> None:
        """Forget a worker that stopped cleanly."""

    def jobs_since(self, cursors: Sequence[tuple[str, int]]) -> dict[str, JobChanges]:
        """For each (job id, entry seq): the job, its results and errors limited to those stored
        after that entry (0: all), in one read. A job that does not exist is left out."""

    def watch_changes(self) -> set[str] | None:
        """Which jobs may have changed (progress, entries, status) since the last call: an empty
        set when none did, None when any may have (the caller then re-reads all it follows).
        Call it from one thread; the first call answers None."""

    def watch_wake_fd(self) -> int | None:
        """A file descriptor that turns readable when watch_changes() may have news, or None
        when the caller must poll it."""

    def work_wake_fd(self) -> int | None:
        """A file descriptor that turns readable when new work may be ready, or None when the
        caller must poll work_changed()."""

    def work_changed(self) -> bool:
        """Cheap check: may new work have arrived since the last call?"""

    # -- batches: children counted by triggers in the transaction that moves them ------------

    def batch_create(self, batch: NewBatch, children: Iterable[NewJob]) -> None:
        """Insert the batch and its children (each with batch_id set), taking the children from
        the iterable as they are written: one transaction per 1,000 at most, the first with
        the batch's row. The batch cannot end before the last of them is written; a batch
        cancelled meanwhile (or stopped by a failure, allow_failures being off) gets no more."""

    def batch_add(self, batch_id: str, children: Iterable[NewJob]) -> int:
        """Add children to a batch that is pending or processing, as batch_create does; return
        how many were added. Raises BatchNotFound or InvalidTransition."""

    def batch_get(self, batch_id: str) -> BatchRecord | None:
        """The batch with its counters (never counted from its children), or None. The
        counters are exact; that the batch ended (completed_at, runs, callbacks_due) may be
        recorded only by the next batch_due when its last children committed at the same
        time as others (a backend may leave a busy batch's row to be updated later)."""

    def batch_results(self, batch_id: str, offset: int, limit: int) -> list[Any]:
        """Results of the batch's children, child by child (in id order), each child's in the
        order they were stored: at most limit, after skipping offset. Only children that have
        started are read (one that never ran has none): a page costs what it reads, however
        many children wait."""

    def batch_errors(self, batch_id: str, limit: int) -> list[dict[str, Any]]:
        """The failed children, in id order, at most limit: {"job_id", "error", "items"}."""

    def batch_due(self, limit: int) -> list[BatchRecord]:
        """Batches whose callbacks are due (they ended, or a child failed a batch that allows
        no failure), at most limit, after recording the ends batch_get says may wait."""

    def batch_settle(
        self, batch_id: str, callbacks: Mapping[str, NewJob], now: float
    ) -> list[tuple[str, str]]:
        """In one transaction: when a child failed a batch that allows no failure, cancel its
        pending and processing children (as job_cancel does); then clear the batch's due flags
        if they are still set and, only then, insert the jobs of the callbacks due (taken from
        callbacks, by "on_success", "on_failure", "on_complete"). Return the (callback, job
        id) inserted: of many racing to settle one batch, exactly one dispatches them."""

    def batch_cancel(self, batch_id: str, now: float) -> BatchRecord:
        """Cancel the pending and processing children (as job_cancel does) and mark the batch
        cancelled. Raises BatchNotFound, or InvalidTransition when it has ended."""

    def batch_retry(self, batch_id: str, now: float) -> list[str]:
        """Make the failed and cancelled children pending again (as job_retry does: results and
        checkpoints are kept), leaving completed ones as they are, and clear a cancel; return
        their ids. Raises BatchNotFound, or InvalidTransition when there are none."""


class JobReader(Protocol):
    def job_get(self, job_id: str) -> JobRecord | None: ...


def transition_result(
    store: JobReader, job_id: str, changed: int, verb: str, allowed: str
) -> JobRecord:
    """The job after an operator's transition (cancel, retry) changed `changed` rows: the
    record, or JobNotFound / InvalidTransition naming why nothing changed."""
    record = store.job_get(job_id)
    if record is None:
        raise JobNotFound(f"no job with id {job_id}")
    if not changed:
        raise InvalidTransition(
            f"cannot {verb} job {job_id}: it is {record.status.value}, not {allowed}"
        )
    return record
