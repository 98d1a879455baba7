"""SQLite backend: one file in WAL mode, the zero-setup default on one machine."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .. import codec
from ..errors import (
    ConfigurationError,
    InvalidTransition,
    StoreError,
    StoreUnavailable,
)
from ..model import FINISHED, JobRecord, NewJob, Status
from ..settings import DatabaseURL
from .base import (
    ClaimRequest,
    JobPage,
    Lease,
    Outcome,
    ProgressWrite,
    Stats,
    WorkerInfo,
    transition_result,
)
from .queries import load_queries

# "undw": marks a file as underway's so that a foreign database is never written to.
APPLICATION_ID = 0x756E6477
SCHEMA_VERSION = 2
WORKERS_FORGOTTEN_AFTER = 24 * 3600.0
WAL_CHECKPOINT_PAGES = 4000

Q = load_queries("sqlite")
SYNCHRONOUS_MODES = frozenset({"off", "normal", "full", "extra"})


def _check_writable(url: str, path: str) -> None:
    if path in ("", ":memory:") or path.startswith("file::memory:"):
        raise ConfigurationError(
            f"database URL {url!r}: an in-memory database cannot be shared with workers; "
            "give a file path such as sqlite:///underway.db"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigurationError(f"database URL {url!r}: folder {folder} does not exist")
    target = path if os.path.exists(path) else folder
    if not os.access(target, os.W_OK):
        raise ConfigurationError(f"database URL {url!r}: {target} is not writable")


class SQLiteStore:
    """Thread-safe: each thread gets its own connection; writes run in BEGIN IMMEDIATE."""

    writes_wait_on_server = False

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url.raw
        self.path = url.path
        _check_writable(url.raw, url.path)
        self.synchronous = url.options.get("synchronous", "normal").lower()
        if self.synchronous not in SYNCHRONOUS_MODES:
            raise ConfigurationError(
                f"database URL {url.raw!r}: synchronous must be one of {sorted(SYNCHRONOUS_MODES)}"
            )
        try:
            self.busy_timeout = float(url.options.get("timeout", "30"))
        except ValueError:
            raise ConfigurationError(f"database URL {url.raw!r}: timeout must be seconds") from None
        self._local = threading.local()
        self._schema_lock = threading.Lock()
        self._schema_ready = False
        self._connections: list[sqlite3.Connection] = []
        self._data_version: int | None = None

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            self._use_wal(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable SQLite database: {exc}") from exc
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        # A checkpoint copies every page the WAL holds back into the file and syncs twice; with
        # 16 MB between them rather than 4 MB, the hot index pages are copied once for many
        # more commits (about 10 % more dispatches and claims a second).
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL needs it to itself, and SQLite answers "locked" at once,
        # without its busy wait, while a neighbour opening the same new file holds it: retry.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
            else:
                if mode.lower() == "wal":
                    return
                if time.monotonic() >= deadline:
                    raise StoreError(f"{self.path}: could not switch to WAL mode (got {mode})")
            time.sleep(0.005)

    @property
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if not self._schema_ready:
                self.schema_ensure()
            conn = self._connect()
            self._local.conn = conn
            self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        with self._busy_is_unavailable():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _busy_is_unavailable(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreUnavailable(
                    f"{self.path} stayed locked by another writer for longer than the busy "
                    f"time-out ({self.busy_timeout:g} s; ?timeout= in the URL sets it)"
                ) from exc
            raise

    def close(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections.clear()
        self._local = threading.local()

    # -- schema --------------------------------------------------------------------------------

    def schema_ensure(self) -> None:
        with self._schema_lock:
            if self._schema_ready:
                return
            try:
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a usable SQLite database: {exc}") from exc
            try:
                self._migrate(conn)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a usable SQLite database: {exc}") from exc
            finally:
                conn.close()
            self._schema_ready = True

    def _migrate(self, conn: sqlite3.Connection) -> None:
        # Look before writing anything (WAL mode is a write too): a file that is not ours stays
        # as it was, and a current schema takes no write lock, which a caller's own transaction
        # (transactional dispatch) may be holding.
        conn.execute("BEGIN")  # one snapshot: another process may be creating the schema
        try:
            version = self._schema_version(conn)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        self._use_wal(conn)
        if version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created the schema since we looked.
            found = self._schema_version(conn)
            for step in range(found + 1, SCHEMA_VERSION + 1):
                for statement in Q[f"schema_v{step}"].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _schema_version(self, conn: sqlite3.Connection) -> int:
        """The file's schema version, 0 when empty; StoreError when it is not ours or newer."""
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if app_id != APPLICATION_ID and (app_id != 0 or tables):
            raise StoreError(
                f"{self.path} is not an underway database (it holds tables: "
                f"{', '.join(tables) or 'none'}); refusing to touch it"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this underway "
                f"({SCHEMA_VERSION}); upgrade underway"
            )
        return version

    # -- dispatch and reads --------------------------------------------------------------------

    def job_enqueue(self, job: NewJob, connection: Any = None) -> str:
        if connection is None and job.unique_key is None:
            # One statement is its own transaction: no BEGIN and COMMIT round trips. Without a
            # unique key there is no conflict to look for: the plain insert of one row.
            try:
                self._conn.execute(_INSERT_ONE, _insert_row(job))
            except sqlite3.OperationalError:
                # Entered only on an error: as a wrapper it costs a fifth of dispatch's Python.
                with self._busy_is_unavailable():
                    raise
            return job.id
        params = _insert_params(job)
        if connection is not None:
            if not isinstance(connection, sqlite3.Connection):
                raise TypeError(
                    f"connection must be a sqlite3.Connection for {self.url}, "
                    f"got {type(connection).__name__}"
                )
            self.schema_ensure()
            row = _insert(connection, params)
        else:
            with self._write() as conn:
                row = _insert(conn, params)
        if row is None:
            raise StoreError(f"job {job.id} was neither inserted nor found by its unique key")
        return str(row[0])

    def job_enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        if not jobs:
            return []
        # Whole chunks through one many-row statement; the rest a row at a time, so that odd
        # batch sizes do not each compile (and crowd the statement cache with) a statement.
        whole = len(jobs) - len(jobs) % JOBS_PER_INSERT
        with self._write() as conn:
            for start in range(0, whole, JOBS_PER_INSERT):
                params: list[Any] = []
                for job in jobs[start : start + JOBS_PER_INSERT]:
                    params += _insert_row(job)
                conn.execute(_INSERT_CHUNK, params)
            conn.executemany(_INSERT_ONE, [_insert_row(job) for job in jobs[whole:]])
        return [job.id for job in jobs]

    def job_get(self, job_id: str) -> JobRecord | None:
        conn = self._conn
        row = conn.execute(Q["job_get"], {"id": job_id}).fetchone()
        if row is None:
            return None
        entries = conn.execute(Q["job_entries"], {"id": job_id}).fetchall()
        return _record(row, entries)

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
        rows = self._conn.execute(Q["job_list"], params).fetchall()
        jobs = [_record(row) for row in rows[:limit]]
        next_cursor = jobs[-1].id if len(rows) > limit and jobs else None
        return JobPage(jobs, next_cursor)

    # -- worker side ---------------------------------------------------------------------------

    def job_claim(self, worker_id: str, request: ClaimRequest) -> list[JobRecord]:
        with self._write() as conn:
            return _claim(conn, worker_id, request)

    def job_claim_one(
        self, worker_id: str, job_id: str, lease_seconds: float, now: float
    ) -> JobRecord | None:
        params = {
            "id": job_id,
            "worker_id": worker_id,
            "lease_expires_at": now + lease_seconds,
            "now": now,
        }
        with self._write() as conn:
            row = conn.execute(Q["job_claim_id"], params).fetchone()
        return None if row is None else _record(row)

    def job_heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease_seconds: float, now: float
    ) -> set[str]:
        # Only the leases given are renewed: a job the worker no longer lists must run out of
        # lease and be rescued rather than stay processing for as long as the worker lives.
        held: set[str] = set()
        with self._write() as conn:
            conn.execute(Q["worker_upsert"], _worker_params(worker))
            for lease in leases:
                renewed = conn.execute(
                    Q["job_renew_lease"],
                    {
                        "id": lease.job_id,
                        "attempt": lease.attempt,
                        "worker_id": worker.id,
                        "lease_expires_at": now + lease_seconds,
                    },
                ).rowcount
                if renewed:
                    held.add(lease.job_id)
        return held

    def job_write_progress(self, worker_id: str, writes: Sequence[ProgressWrite]) -> list[str]:
        with self._write() as conn:
            return [w.lease.job_id for w in writes if not _write_progress(conn, worker_id, w)]

    def job_finish(self, worker_id: str, outcomes: Sequence[Outcome]) -> list[str]:
        refused = []
        with self._write() as conn:
            for outcome in outcomes:
                if not _finish(conn, worker_id, outcome):
                    refused.append(outcome.lease.job_id)
        return refused

    def job_finish_and_claim(
        self, worker_id: str, outcomes: Sequence[Outcome], claim: ClaimRequest
    ) -> tuple[list[str], list[JobRecord]]:
        with self._write() as conn:
            refused = [o.lease.job_id for o in outcomes if not _finish(conn, worker_id, o)]
            return refused, _claim(conn, worker_id, claim)

    def job_release(self, worker_id: str, leases: Sequence[Lease], now: float) -> None:
        with self._write() as conn:
            conn.executemany(
                Q["job_release"],
                [
                    {
                        "id": lease.job_id,
                        "attempt": lease.attempt,
                        "worker_id": worker_id,
                        "now": now,
                    }
                    for lease in leases
                ],
            )

    def lease_rescue(self, now: float) -> list[tuple[str, Status]]:
        with self._write() as conn:
            rows = conn.execute(Q["lease_rescue"], {"now": now}).fetchall()
            conn.executemany(
                Q["entry_insert"],
                [
                    {
                        "job_id": row["id"],
                        "kind": "error",
                        "body": f"attempt {row['attempts']}: WorkerLost: "
                        "the worker stopped renewing its lease",
                    }
                    for row in rows
                ],
            )
            conn.execute(Q["workers_forget_stale"], {"before": now - WORKERS_FORGOTTEN_AFTER})
        return [(row["id"], Status(row["status"])) for row in rows]

    def worker_list(self, now: float) -> list[WorkerInfo]:
        return [_worker(row) for row in self._conn.execute(Q["workers_alive"], {"now": now})]

    def worker_remove(self, worker_id: str) -> None:
        with self._write() as conn:
            conn.execute(Q["worker_delete"], {"id": worker_id})

    def work_wake_fd(self) -> int | None:
        return None

    def work_changed(self) -> bool:
        # data_version moves when another connection commits; one of ours never moves it.
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        changed = version != self._data_version
        self._data_version = version
        return changed

    # -- operator actions ----------------------------------------------------------------------

    def job_cancel(self, job_id: str, now: float) -> JobRecord:
        with self._write() as conn:
            changed = conn.execute(Q["job_cancel"], {"id": job_id, "now": now}).rowcount
        return transition_result(self, job_id, changed, "cancel", "pending or processing")

    def job_retry(self, job_id: str, now: float) -> JobRecord:
        try:
            with self._write() as conn:
                changed = conn.execute(Q["job_retry"], {"id": job_id, "now": now}).rowcount
        except sqlite3.IntegrityError:
            raise InvalidTransition(
                f"cannot retry job {job_id}: another job with its unique key is pending or running"
            ) from None
        return transition_result(self, job_id, changed, "retry", "failed or cancelled")

    def job_delete(self, job_id: str) -> bool:
        with self._write() as conn:
            deleted = conn.execute(Q["job_delete"], {"id": job_id}).rowcount
            if deleted:
                conn.execute(Q["entries_delete"], {"id": job_id})
        return bool(deleted)

    def job_prune(self, finished_before: float) -> int:
        with self._write() as conn:
            conn.execute(Q["jobs_prune_entries"], {"before": finished_before})
            return int(conn.execute(Q["jobs_prune"], {"before": finished_before}).rowcount)

    def stats(self, now: float) -> Stats:
        conn = self._conn
        counts: dict[str, dict[str, int]] = {}
        for row in conn.execute(Q["stats_counts"]):
            counts.setdefault(row["queue"], {})[row["status"]] = row["n"]
        finished = {
            row["status"]: row["n"]
            for row in conn.execute(Q["stats_finished_since"], {"since": now - 60})
        }
        return Stats(
            counts, finished.get("completed", 0), finished.get("failed", 0), self.worker_list(now)
        )


def _insert_params(job: NewJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "task": job.task,
        "queue": job.queue,
        "priority": job.priority,
        "owner": job.owner,
        "unique_key": job.unique_key,
        "args": job.encoded_args(),
        "tries": job.max_attempts,
        "timeout": job.timeout,
        "backoff": job.backoff,
        "created_at": job.created_at,
        "available_at": job.available_at,
    }


def _insert(conn: sqlite3.Connection, params: dict[str, Any]) -> Any:
    """Insert; return a row whose first column is the id of the job that now holds the key."""
    if conn.execute(Q["job_insert"], params).rowcount:
        return (params["id"],)
    return conn.execute(Q["job_active_by_unique_key"], params).fetchone()


# 12 parameters a row: a statement stays within 999, the smallest limit SQLite has had.
JOBS_PER_INSERT = 80
_INSERT_HEAD, _, _INSERT_ROW = Q["jobs_insert_many"].rpartition("VALUES")
_INSERT_ONE = Q["jobs_insert_many"]
_INSERT_CHUNK = f"{_INSERT_HEAD}VALUES {', '.join([_INSERT_ROW.strip()] * JOBS_PER_INSERT)}"


def _insert_row(job: NewJob) -> tuple[Any, ...]:
    return (
        job.id,
        job.task,
        job.queue,
        job.priority,
        job.owner,
        job.encoded_args(),
        job.max_attempts,
        job.max_attempts,
        job.timeout,
        job.backoff,
        job.created_at,
        job.available_at,
    )


def _progress_params(write: ProgressWrite | None, params: dict[str, Any]) -> dict[str, Any]:
    """Add a write's progress columns to params (the has_* flags say which to set)."""
    if write is None:
        params.update(_NO_PROGRESS)
        return params
    params["has_progress"] = True
    params["total"] = write.total
    params["processed"] = write.processed
    params["current"] = write.current
    params["usage"] = codec.dumps(write.usage) if write.usage else None
    params["has_checkpoint"] = write.has_checkpoint
    params["checkpoint"] = codec.dumps(write.checkpoint) if write.has_checkpoint else None
    return params


_NO_PROGRESS = {"has_progress": False, "has_checkpoint": False, "total": None, "processed": 0,
                "current": None, "usage": None, "checkpoint": None}  # fmt: skip


def _entries(job_id: str, write: ProgressWrite | None) -> list[dict[str, Any]]:
    if write is None:
        return []
    return [
        *({"job_id": job_id, "kind": "result", "body": codec.dumps(r)} for r in write.results),
        *({"job_id": job_id, "kind": "error", "body": e} for e in write.errors),
    ]


def _write_progress(conn: sqlite3.Connection, worker_id: str, write: ProgressWrite) -> bool:
    job_id = write.lease.job_id
    params = {"id": job_id, "attempt": write.lease.attempt, "worker_id": worker_id}
    updated = conn.execute(Q["job_progress_update"], _progress_params(write, params)).rowcount
    if updated and (entries := _entries(job_id, write)):
        conn.executemany(Q["entry_insert"], entries)
    return bool(updated)


def _finish(conn: sqlite3.Connection, worker_id: str, outcome: Outcome) -> bool:
    """One statement ends the attempt together with its last progress; then its entries."""
    job_id = outcome.lease.job_id
    status = outcome.status
    params = {
        "id": job_id,
        "attempt": outcome.lease.attempt,
        "worker_id": worker_id,
        "status": status.value,
        # SQL NULL reads back as None just as 'null' would, without encoding it per job
        "result": codec.dumps(outcome.result)
        if status is Status.COMPLETED and outcome.result is not None
        else None,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "retry_at": outcome.retry_at,
        "completed_at": outcome.finished_at if status in FINISHED else None,
    }
    updated = conn.execute(Q["job_finish"], _progress_params(outcome.progress, params)).rowcount
    if not updated:
        return False
    entries = _entries(job_id, outcome.progress)
    if outcome.error:
        body = f"attempt {outcome.lease.attempt}: {outcome.error}"
        entries.append({"job_id": job_id, "kind": "error", "body": body})
    if entries:
        conn.executemany(Q["entry_insert"], entries)
    return True


def _claim(conn: sqlite3.Connection, worker_id: str, request: ClaimRequest) -> list[JobRecord]:
    params: dict[str, Any] = {
        "worker_id": worker_id,
        "lease_expires_at": request.now + request.lease_seconds,
        "now": request.now,
        "limit": request.limit,
        "min_tries": request.min_tries,
    }
    if request.limit <= 0:
        return []
    if not request.queues:
        return _in_claim_order(conn.execute(Q["job_claim_any"], params))
    # RETURNING yields rows in no promised order: put each queue's batch back in claim order.
    claimed: list[JobRecord] = []
    for queue in request.queues:
        params["queue"] = queue
        params["limit"] = request.limit - len(claimed)
        claimed.extend(_in_claim_order(conn.execute(Q["job_claim_queue"], params)))
        if len(claimed) >= request.limit:
            break
    return claimed


def _in_claim_order(rows: Iterable[sqlite3.Row]) -> list[JobRecord]:
    """Higher priority first, then oldest first (ids are time-ordered)."""
    return sorted((_record(row) for row in rows), key=lambda job: (-job.priority, job.id))


def _worker_params(worker: WorkerInfo) -> dict[str, Any]:
    return {
        "id": worker.id,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "queues": ",".join(worker.queues),
        "processes": worker.processes,
        "concurrency": worker.concurrency,
        "started_at": worker.started_at,
        "last_seen_at": worker.last_seen_at,
        "lease_seconds": worker.lease_seconds,
        "running": worker.running,
    }


def _worker(row: sqlite3.Row) -> WorkerInfo:
    return WorkerInfo(
        id=row["id"],
        hostname=row["hostname"],
        pid=row["pid"],
        queues=tuple(q for q in row["queues"].split(",") if q),
        processes=row["processes"],
        concurrency=row["concurrency"],
        started_at=row["started_at"],
        last_seen_at=row["last_seen_at"],
        lease_seconds=row["lease_seconds"],
        running=row["running"],
    )


# underway_jobs' columns in table order: rows are unpacked by position, much faster than by name.
JOB_COLUMNS = (
    "id", "task", "queue", "status", "priority", "owner", "unique_key", "args", "attempts",
    "tries", "max_attempts", "timeout", "backoff", "created_at", "available_at", "started_at",
    "completed_at", "worker_id", "lease_expires_at", "progress_total", "progress_processed",
    "progress_current", "usage", "checkpoint", "result", "error", "traceback",
)  # fmt: skip


def _record(row: sqlite3.Row, entries: Sequence[sqlite3.Row] = ()) -> JobRecord:
    (job_id, task, queue, status, priority, owner, unique_key, args, attempts, _tries,
     max_attempts, timeout, backoff, created_at, available_at, started_at, completed_at,
     worker_id, lease_expires_at, progress_total, progress_processed, progress_current, usage,
     checkpoint, result, error, traceback) = row  # fmt: skip
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
        results=tuple(loads(e["body"]) for e in entries if e["kind"] == "result"),
        errors=tuple(e["body"] for e in entries if e["kind"] == "error"),
    )
