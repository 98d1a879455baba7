"""PostgreSQL backend: workers on many machines, SKIP LOCKED claims, LISTEN/NOTIFY wake-ups.

Everything lives in one PostgreSQL schema (default ``underway``, chosen by ``?schema=NAME`` in
the URL), created and migrated by schema_ensure() under an advisory lock. Times are stored as
double precision seconds since the epoch, exactly as the model holds them, so nothing is lost or
rounded on the way in and out.

Connections come from a psycopg_pool pool, in autocommit mode: claims and batched finishes are
each one statement (one transaction, one round trip); heartbeats and progress writes are short
pipelined transactions that need not wait for the WAL flush. A dedicated autocommit connection
LISTENs on the schema's channel; every change that makes work ready sends a NOTIFY on it, which
PostgreSQL delivers when that change commits. A failure to reach the server surfaces as
StoreUnavailable within the pool timeout (at once when the server refuses), and the same store
works again once the server is back: stale pooled connections are detected without a round
trip and replaced, and the LISTEN connection is re-established with backoff.
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import ConnStatus
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from .. import codec
from ..errors import (
    ConfigurationError,
    InvalidTransition,
    StoreError,
    StoreUnavailable,
)
from ..model import JobRecord, NewJob, Status
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

SCHEMA_VERSION = 2
DEFAULT_SCHEMA = "underway"
# "undw": the advisory lock class under which schemas are migrated, one lock per schema name.
LOCK_CLASS = 0x756E6477
WORKERS_FORGOTTEN_AFTER = 24 * 3600.0
PRUNE_BATCH = 5000

# URL options that are underway's own; every other option is handed to libpq untouched.
OWN_OPTIONS = frozenset({"schema", "pool_min", "pool_max", "pool_timeout"})
DEFAULT_POOL_TIMEOUT = 5.0
# libpq options set unless the URL sets them: fail fast, and notice a dead peer.
LIBPQ_DEFAULTS = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "application_name": "underway",
}
# How long the pool keeps retrying one lost connection before it lets a waiting caller start a
# fresh attempt: short, so that a worker reconnects within seconds of the server returning.
RECONNECT_TIMEOUT = 4.0
WAIT_SLICE = 0.05
LISTEN_RETRY_MIN = 0.5
LISTEN_RETRY_MAX = 5.0

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# SQLSTATEs that mean "the server cannot serve us right now" rather than "this query is wrong".
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "53400"})
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")

Q = load_queries("postgres")


class _ConnectErrors:
    """The last failed connection attempt, written by the pool's worker threads."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.at = 0.0

    def record(self, error: BaseException) -> None:
        self.error, self.at = error, time.monotonic()

    def since(self, moment: float) -> BaseException | None:
        return self.error if self.at >= moment else None


class PooledConnection(psycopg.Connection[DictRow]):
    """A pool connection that tells its store why an attempt to connect failed, so that callers
    waiting on the pool get the server's reason (refused, starting up, unknown database, bad
    password) at once rather than a bare time-out."""

    @classmethod
    def connect(cls, *args: Any, **kwargs: Any) -> Any:
        errors: _ConnectErrors = kwargs.pop("underway_errors")
        try:
            return super().connect(*args, **kwargs)
        except psycopg.Error as exc:
            errors.record(exc)
            raise


def _option(url: DatabaseURL, name: str, default: float, convert: type = float) -> Any:
    raw = url.options.get(name)
    if raw is None:
        return default
    try:
        value = convert(raw)
    except ValueError:
        raise ConfigurationError(f"database URL option {name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConfigurationError(f"database URL option {name} must be positive, got {raw!r}")
    return value


def _schema_name(url: DatabaseURL) -> str:
    schema = url.options.get("schema", DEFAULT_SCHEMA)
    if not _IDENTIFIER.match(schema) or schema.lower().startswith("pg_"):
        raise ConfigurationError(
            f"database URL option schema={schema!r} is not a usable schema name: use letters, "
            "digits and underscores, at most 63, not starting with a digit or pg_"
        )
    return schema


def _channel_name(schema: str) -> str:
    channel = f"underway.{schema}"
    if len(channel) <= 63:
        return channel
    return "underway." + hashlib.sha1(schema.encode()).hexdigest()[:24]


def _libpq_url(raw: str) -> str:
    """The URL without underway's own options, for libpq. The other options are kept exactly as
    written: libpq does its own decoding (a "+" stays a "+" there)."""
    parts = urlsplit(raw)
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and unquote(pair.split("=", 1)[0]) not in OWN_OPTIONS
    ]
    return urlunsplit(parts._replace(query="&".join(kept)))


def _redacted(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.password is None:
        return raw
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout | psycopg.InterfaceError):
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in _UNAVAILABLE_STATES
    return False


Pool = ConnectionPool[PooledConnection]


class PostgresStore:
    """Thread-safe: operations borrow a pooled connection; the LISTEN connection has a lock."""

    writes_wait_on_server = True

    def __init__(self, url: DatabaseURL) -> None:
        self.url = _redacted(url.raw)
        self.schema = _schema_name(url)
        self.channel = _channel_name(self.schema)
        self.pool_min = _option(url, "pool_min", 1, int)
        self.pool_max = max(self.pool_min, _option(url, "pool_max", 10, int))
        self.pool_timeout = _option(url, "pool_timeout", DEFAULT_POOL_TIMEOUT)
        self._conninfo = _libpq_url(url.raw)
        try:
            params = conninfo_to_dict(self._conninfo)
        except psycopg.ProgrammingError as exc:
            raise ConfigurationError(f"database URL {self.url!r} is not valid: {exc}") from None
        self._kwargs: dict[str, Any] = {k: v for k, v in LIBPQ_DEFAULTS.items() if k not in params}
        self.where = _describe(params)
        names = {"schema": sql.Identifier(self.schema), "channel": sql.Identifier(self.channel)}
        self._q = {name: sql.SQL(text).format(**names).as_string(None) for name, text in Q.items()}
        self._errors = _ConnectErrors()
        self._lock = threading.Lock()
        self._pool: Pool | None = None
        self._pid = os.getpid()
        self._schema_ready = False
        self._listen_lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None
        self._listen_retry_at = 0.0
        self._listen_backoff = LISTEN_RETRY_MIN
        self._listen_missed = True
        self._notified = False

    # -- connections ---------------------------------------------------------------------------

    def _forget_if_forked(self) -> None:
        # A child of fork must not use (or close) its parent's sockets: start afresh.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._pool = None
            self._listener = None

    def _open_pool(self) -> Pool:
        with self._lock:
            self._forget_if_forked()
            if self._pool is None:
                pool: Pool = ConnectionPool(
                    self._conninfo,
                    connection_class=PooledConnection,
                    kwargs={
                        **self._kwargs,
                        "autocommit": True,
                        "row_factory": dict_row,
                        "underway_errors": self._errors,
                    },
                    min_size=self.pool_min,
                    max_size=self.pool_max,
                    timeout=self.pool_timeout,
                    reconnect_timeout=RECONNECT_TIMEOUT,
                    name=f"underway-{self.schema}",
                    open=False,
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def _checkout(self, pool: Pool) -> PooledConnection:
        """A live pooled connection, or StoreUnavailable within the pool timeout. Fails at once
        when a connection attempt made while we wait is refused."""
        start = time.monotonic()
        deadline = start + self.pool_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waited = (
                    f"no connection within {self.pool_timeout:g} s (the server does not "
                    f"answer, or all {self.pool_max} pooled connections are busy)"
                )
                raise self._down(self._errors.since(start) or waited)
            try:
                conn = pool.getconn(timeout=min(WAIT_SLICE, remaining))
            except PoolTimeout:
                error = self._errors.since(start)
                if error is not None:
                    raise self._down(error) from None
                continue
            if _alive(conn):
                return conn
            # Closed by a server restart while it idled in the pool: the pool replaces it.
            conn.close()
            pool.putconn(conn)

    @contextmanager
    def _connection(self, ensure: bool = True) -> Iterator[PooledConnection]:
        if ensure and not self._schema_ready:
            self.schema_ensure()
        pool = self._open_pool()
        conn = self._checkout(pool)
        try:
            with self._translated():
                yield conn
        finally:
            pool.putconn(conn)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (psycopg.Error, PoolTimeout) as exc:
            if _unavailable(exc):
                raise self._down(exc) from exc
            raise

    def _down(self, reason: object) -> StoreUnavailable:
        text = str(reason).strip().replace("\n", " ") or type(reason).__name__
        return StoreUnavailable(f"PostgreSQL at {self.where} is unavailable: {text}")

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            pool.close(timeout=5)
        with self._listen_lock:
            listener, self._listener = self._listener, None
            self._listen_missed = True
        if listener is not None and self._pid == os.getpid():
            listener.close()

    # -- schema --------------------------------------------------------------------------------

    def schema_ensure(self) -> None:
        if self._schema_ready:
            return
        with self._connection(ensure=False) as conn:
            if self._schema_state(conn) != SCHEMA_VERSION:
                try:
                    with conn.transaction():
                        # Ten workers starting at once: one migrates, the others wait for its
                        # lock, then find the schema current.
                        conn.execute(
                            self._q["schema_lock"],
                            {"lock_class": LOCK_CLASS, "schema": self.schema},
                        )
                        self._migrate(conn, self._schema_state(conn))
                except pg_errors.InsufficientPrivilege as exc:
                    raise StoreError(
                        f"cannot create or migrate schema {self.schema!r} in {self.where}: {exc}; "
                        "run `underway migrate` as a user who may (CREATE on the database, or "
                        "owner of the schema)"
                    ) from None
        self._schema_ready = True

    def _schema_state(self, conn: psycopg.Connection[DictRow]) -> int | None:
        """The schema's version; None when the schema or its tables do not exist yet."""
        row = conn.execute(self._q["schema_inspect"], {"schema": self.schema}).fetchone()
        assert row is not None
        tables = list(row["tables"] or [])
        if not row["present"] or not tables:
            return None
        if "schema_migrations" not in tables:
            raise StoreError(
                f"schema {self.schema!r} in {self.where} is not underway's (it holds tables: "
                f"{', '.join(tables)}); refusing to touch it. Choose another with ?schema=NAME"
            )
        version_row = conn.execute(self._q["schema_version"]).fetchone()
        version = version_row["version"] if version_row else None
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"schema {self.schema!r} in {self.where} has version {version}, newer than this "
                f"underway ({SCHEMA_VERSION}); upgrade underway"
            )
        return int(version) if version is not None else None

    def _migrate(self, conn: psycopg.Connection[DictRow], version: int | None) -> None:
        if version == SCHEMA_VERSION:
            return
        row = conn.execute(self._q["schema_inspect"], {"schema": self.schema}).fetchone()
        if row is None or not row["present"]:
            # Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even
            # when a DBA already made the schema for us.
            conn.execute(self._q["schema_create"])
        if version is None:
            conn.execute(self._q["schema_migrations_create"])
        for step in range((version or 0) + 1, SCHEMA_VERSION + 1):
            for statement in self._q[f"schema_v{step}"].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(self._q["schema_version_insert"], {"version": step, "now": time.time()})

    # -- dispatch and reads --------------------------------------------------------------------

    def job_enqueue(self, job: NewJob, connection: Any = None) -> str:
        params = {
            "id": job.id,
            "task": job.task,
            "queue": job.queue,
            "priority": job.priority,
            "owner": job.owner,
            "unique_key": job.unique_key,
            "args": _json(job.args, strict=True, text=job.args_json),
            "tries": job.max_attempts,
            "timeout": job.timeout,
            "backoff": job.backoff,
            "created_at": job.created_at,
            "available_at": job.available_at,
            "channel": self.channel,
        }
        if connection is None:
            with self._connection() as conn:
                job_id = self._insert(conn, params)
        else:
            if not isinstance(connection, psycopg.Connection):
                raise TypeError(
                    f"connection must be a psycopg (3) Connection to {self.where}, "
                    f"got {type(connection).__name__}"
                )
            self.schema_ensure()
            with self._translated():
                # Joins the caller's transaction: neither begun nor committed here, and the
                # NOTIFY it sends is delivered only if the caller commits.
                job_id = self._insert(connection, params)
        if job_id is None:
            raise StoreError(f"job {job.id} was neither inserted nor found by its unique key")
        return job_id

    def job_enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        if not jobs:
            return []
        rows = [
            (
                job.id,
                job.task,
                job.queue,
                Status.PENDING.value,
                job.priority,
                job.owner,
                _json(job.args, strict=True, text=job.args_json),
                job.max_attempts,
                job.max_attempts,
                job.timeout,
                job.backoff,
                job.created_at,
                job.available_at,
            )
            for job in jobs
        ]
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            with cur.copy(self._q["jobs_insert_many"]) as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(self._q["jobs_insert_many_notify"], {"channel": self.channel})
        return [job.id for job in jobs]

    def _insert(self, conn: psycopg.Connection[Any], params: dict[str, Any]) -> str | None:
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(self._q["job_insert"], params).fetchone()
            if row is None and params["unique_key"] is not None:
                row = cur.execute(self._q["job_active_by_unique_key"], params).fetchone()
        return None if row is None else str(row["id"])

    def job_get(self, job_id: str) -> JobRecord | None:
        with self._connection() as conn:
            row = conn.execute(self._q["job_get"], {"id": job_id}).fetchone()
        return None if row is None else _record(row)

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
        with self._connection() as conn:
            # Never prepared: planned with the actual filters, so absent ones fold away and the
            # right index is used.
            rows = conn.execute(self._q["job_list"], params, prepare=False).fetchall()
        jobs = [_record(row) for row in rows[:limit]]
        next_cursor = jobs[-1].id if len(rows) > limit and jobs else None
        return JobPage(jobs, next_cursor)

    # -- worker side ---------------------------------------------------------------------------

    def job_claim(self, worker_id: str, request: ClaimRequest) -> list[JobRecord]:
        if request.limit <= 0:
            return []
        with self._connection() as conn:
            if len(request.queues) <= 1:  # one statement: its own transaction
                return self._claim(conn, worker_id, request, async_commit=True)
            with conn.transaction():
                return self._claim(conn, worker_id, request, async_commit=True)

    def _claim(
        self,
        conn: PooledConnection,
        worker_id: str,
        request: ClaimRequest,
        async_commit: bool = False,
    ) -> list[JobRecord]:
        """Queues in order, each taking what the ones before it left of the limit.

        async_commit, for a transaction that only claims: a claim lost with the server's last
        unflushed commits only puts its jobs back to pending, to run again as after a worker
        crash (at least once), so an idle worker's pickup need not wait for the WAL flush.
        Outcomes and checkpoints always do."""
        params: dict[str, Any] = {
            "worker_id": worker_id,
            "lease_expires_at": request.now + request.lease_seconds,
            "now": request.now,
            "min_tries": request.min_tries,
            "async_commit": async_commit,
        }
        claimed: list[JobRecord] = []
        queues: list[str | None] = [*request.queues] or [None]  # None: every queue
        for queue in queues:
            params["limit"] = request.limit - len(claimed)
            if params["limit"] <= 0:
                break
            query = self._q["job_claim_any"] if queue is None else self._q["job_claim_queue"]
            rows = conn.execute(query, params | {"queue": queue}).fetchall()
            claimed.extend(_ordered(rows))
        return claimed

    def job_claim_one(
        self, worker_id: str, job_id: str, lease_seconds: float, now: float
    ) -> JobRecord | None:
        params = {
            "id": job_id,
            "worker_id": worker_id,
            "lease_expires_at": now + lease_seconds,
            "now": now,
        }
        with self._connection() as conn:
            row = conn.execute(self._q["job_claim_id"], params).fetchone()
        return None if row is None else _record(row)

    def job_heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease_seconds: float, now: float
    ) -> set[str]:
        renew = {
            "worker_id": worker.id,
            "lease_expires_at": now + lease_seconds,
            "ids": [lease.job_id for lease in leases],
            "attempts": [lease.attempt for lease in leases],
        }
        with self._connection() as conn:
            with conn.pipeline(), conn.transaction():
                # A lost heartbeat only shortens a lease: it need not wait for the WAL flush.
                conn.execute(self._q["async_commit"])
                conn.execute(self._q["worker_upsert"], _worker_params(worker))
                # Planned for the leases at hand: a reused generic plan guesses the array's size
                # and may walk every processing job of every worker instead of the ids given.
                cur = conn.execute(self._q["job_renew_leases"], renew, prepare=False)
            return {row["id"] for row in cur.fetchall()}

    def job_write_progress(self, worker_id: str, writes: Sequence[ProgressWrite]) -> list[str]:
        if not writes:
            return []
        params = [_progress_params(worker_id, write) for write in writes]
        with self._connection() as conn:
            with conn.pipeline(), conn.transaction():
                conn.execute(self._q["async_commit"])
                cur = conn.cursor()
                cur.executemany(self._q["job_progress_update"], params, returning=True)
            accepted = _returned_ids(cur)
        return [w.lease.job_id for w in writes if w.lease.job_id not in accepted]

    def job_finish(self, worker_id: str, outcomes: Sequence[Outcome]) -> list[str]:
        if not outcomes:
            return []
        with self._connection() as conn:
            return self._finish(conn, worker_id, outcomes)

    def job_finish_and_claim(
        self, worker_id: str, outcomes: Sequence[Outcome], claim: ClaimRequest
    ) -> tuple[list[str], list[JobRecord]]:
        with self._connection() as conn, conn.transaction():
            # One commit for both state changes.
            refused = self._finish(conn, worker_id, outcomes) if outcomes else []
            conn.execute(self._q["claim_in_order"])  # for the rest of this transaction
            return refused, self._claim(conn, worker_id, claim)

    def _finish(
        self, conn: PooledConnection, worker_id: str, outcomes: Sequence[Outcome]
    ) -> list[str]:
        params = {
            "outcomes": _json([_outcome_row(n, o) for n, o in enumerate(outcomes)]),
            "worker_id": worker_id,
            "channel": self.channel,
        }
        # One statement: every outcome with its last progress, in one round trip.
        rows = conn.execute(self._q["job_finish"], params).fetchall()
        accepted = {row["id"] for row in rows}
        return [o.lease.job_id for o in outcomes if o.lease.job_id not in accepted]

    def job_release(self, worker_id: str, leases: Sequence[Lease], now: float) -> None:
        if not leases:
            return
        params = [
            {
                "id": lease.job_id,
                "attempt": lease.attempt,
                "worker_id": worker_id,
                "now": now,
                "channel": self.channel,
            }
            for lease in leases
        ]
        with self._connection() as conn, conn.pipeline(), conn.transaction():
            conn.cursor().executemany(self._q["job_release"], params)

    def lease_rescue(self, now: float) -> list[tuple[str, Status]]:
        with self._connection() as conn:
            with conn.pipeline(), conn.transaction():
                cur = conn.execute(self._q["lease_rescue"], {"now": now, "channel": self.channel})
                conn.execute(
                    self._q["workers_forget_stale"], {"before": now - WORKERS_FORGOTTEN_AFTER}
                )
            rows = cur.fetchall()
        return [(row["id"], Status(row["status"])) for row in rows]

    def worker_list(self, now: float) -> list[WorkerInfo]:
        with self._connection() as conn:
            rows = conn.execute(self._q["workers_alive"], {"now": now}).fetchall()
        return [_worker(row) for row in rows]

    def worker_remove(self, worker_id: str) -> None:
        with self._connection() as conn:
            conn.execute(self._q["worker_delete"], {"id": worker_id})

    # -- wake-up -------------------------------------------------------------------------------

    def work_wake_fd(self) -> int | None:
        with self._listen_lock:
            listener = self._listen()
            return None if listener is None else listener.fileno()

    def work_changed(self) -> bool:
        with self._listen_lock:
            listener = self._listen()
            if listener is None:
                return False
            arrived = _drain_notifications(listener) or self._notified
            self._notified = False
            if listener.pgconn.status != ConnStatus.OK:
                # The server went away: reconnect (now, then with backoff). Notifications may
                # have been missed meanwhile, so the first call after reconnecting says True.
                self._drop_listener()
                if self._listen() is None:
                    return False
            missed, self._listen_missed = self._listen_missed, False
            return arrived or missed

    def _listen(self) -> psycopg.Connection[Any] | None:
        """The LISTEN connection; (re)connected at most once per backoff step. Caller holds
        _listen_lock."""
        self._forget_if_forked()
        listener = self._listener
        if listener is not None and (listener.closed or listener.pgconn.status != ConnStatus.OK):
            self._drop_listener()
        if self._listener is not None or time.monotonic() < self._listen_retry_at:
            return self._listener
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, **self._kwargs)
        except psycopg.Error:
            self._listen_retry_at = time.monotonic() + self._listen_backoff
            self._listen_backoff = min(LISTEN_RETRY_MAX, self._listen_backoff * 2)
            return None
        # Notifications that come in while a statement runs on it (LISTEN, a ping) reach us here.
        conn.add_notify_handler(self._on_notify)
        try:
            conn.execute(self._q["listen"])
        except psycopg.Error:
            conn.close()
            self._listen_retry_at = time.monotonic() + self._listen_backoff
            return None
        self._listener = conn
        self._listen_backoff = LISTEN_RETRY_MIN
        self._listen_missed = True
        return conn

    def _on_notify(self, _notify: psycopg.Notify) -> None:
        self._notified = True

    def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self._listen_retry_at = 0.0
        self._listen_missed = True

    # -- operator actions ----------------------------------------------------------------------

    def job_cancel(self, job_id: str, now: float) -> JobRecord:
        with self._connection() as conn:
            changed = conn.execute(self._q["job_cancel"], {"id": job_id, "now": now}).rowcount
        return transition_result(self, job_id, changed, "cancel", "pending or processing")

    def job_retry(self, job_id: str, now: float) -> JobRecord:
        params = {"id": job_id, "now": now, "channel": self.channel}
        try:
            with self._connection() as conn:
                changed = conn.execute(self._q["job_retry"], params).rowcount
        except pg_errors.UniqueViolation:
            raise InvalidTransition(
                f"cannot retry job {job_id}: another job with its unique key is pending or running"
            ) from None
        return transition_result(self, job_id, changed, "retry", "failed or cancelled")

    def job_delete(self, job_id: str) -> bool:
        with self._connection() as conn:
            return conn.execute(self._q["job_delete"], {"id": job_id}).rowcount > 0

    def job_prune(self, finished_before: float) -> int:
        # In batches, each its own transaction: pruning a million rows never holds one huge
        # transaction open. Their results and errors go with them (ON DELETE CASCADE).
        total = 0
        params = {"before": finished_before, "batch": PRUNE_BATCH}
        with self._connection() as conn:
            while True:
                deleted = conn.execute(self._q["jobs_prune"], params).rowcount
                total += deleted
                if deleted < PRUNE_BATCH:
                    return total

    def stats(self, now: float) -> Stats:
        with self._connection() as conn:
            with conn.pipeline():
                counts_cur = conn.execute(self._q["stats_counts"])
                finished_cur = conn.execute(self._q["stats_finished_since"], {"since": now - 60})
                workers_cur = conn.execute(self._q["workers_alive"], {"now": now})
            count_rows = counts_cur.fetchall()
            finished = {row["status"]: row["n"] for row in finished_cur.fetchall()}
            workers = [_worker(row) for row in workers_cur.fetchall()]
        counts: dict[str, dict[str, int]] = {}
        for row in count_rows:
            counts.setdefault(row["queue"], {})[row["status"]] = row["n"]
        return Stats(counts, finished.get("completed", 0), finished.get("failed", 0), workers)


def _describe(params: dict[str, Any]) -> str:
    host = params.get("host") or params.get("hostaddr") or "the local socket"
    port = params.get("port") or "5432"
    database = params.get("dbname") or params.get("user") or "(default database)"
    return f"{host}:{port}/{database}"


def _readable(fd: int) -> bool:
    """Data, an end of stream or an error is waiting on fd (poll: any fd number, unlike select)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _alive(conn: psycopg.Connection[Any]) -> bool:
    """Cheap: an idle connection with nothing to read is fine; one the server closed (restart,
    idle time-out) has its termination message or end-of-file waiting, so ping it then."""
    if conn.closed or conn.broken:
        return False
    try:
        if _readable(conn.fileno()):
            ConnectionPool.check_connection(conn)
    except (psycopg.Error, OSError, ValueError):
        return False
    return True


def _drain_notifications(conn: psycopg.Connection[Any]) -> bool:
    """Read what the server sent, without waiting; True if a notification was among it.

    Anything else that arrives on an idle LISTEN connection is the server ending the session
    (its reason comes a moment before the end of the stream): a ping then finds out for sure,
    marking the connection broken."""
    try:
        readable = _readable(conn.pgconn.socket)
    except (psycopg.Error, OSError, ValueError):
        return False
    arrived = False
    try:
        if readable:
            conn.pgconn.consume_input()
        while conn.pgconn.notifies() is not None:
            arrived = True
        if readable and not arrived:
            ConnectionPool.check_connection(conn)
    except psycopg.Error:
        pass
    return arrived


def _json(value: Any, strict: bool = False, text: str | None = None) -> str:
    """JSON text for a jsonb column (text: value already encoded). PostgreSQL cannot store the
    NUL character: arguments that hold one are refused; worker-written values get U+FFFD."""
    text = codec.dumps(value) if text is None else text
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        if strict:
            raise ValueError(
                "arguments contain a NUL character (\\u0000), which PostgreSQL cannot store"
            )
        text = _NUL_ESCAPE.sub(r"\1\\ufffd", text)
    return text


def _text(value: str | None) -> str | None:
    return None if value is None else value.replace("\x00", "\ufffd")


def _progress_params(worker_id: str, write: ProgressWrite) -> dict[str, Any]:
    return {
        "id": write.lease.job_id,
        "attempt": write.lease.attempt,
        "worker_id": worker_id,
        "total": write.total,
        "processed": write.processed,
        "current": _text(write.current),
        "usage": _json(write.usage) if write.usage else None,
        "has_checkpoint": write.has_checkpoint,
        "checkpoint": _json(write.checkpoint) if write.has_checkpoint else None,
        "entries": _json(_entries(write)),
    }


def _outcome_row(n: int, outcome: Outcome) -> dict[str, Any]:
    ended = outcome.status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    progress = outcome.progress
    entries = _entries(progress) if progress is not None else []
    if outcome.error:
        entries.append(
            {"kind": "error", "body": f"attempt {outcome.lease.attempt}: {outcome.error}"}
        )
    return {
        "n": n,
        "id": outcome.lease.job_id,
        "attempt": outcome.lease.attempt,
        "status": outcome.status.value,
        "result": outcome.result if outcome.status == Status.COMPLETED else None,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "retry_at": outcome.retry_at,
        "completed_at": outcome.finished_at if ended else None,
        "has_progress": progress is not None,
        "total": progress.total if progress else None,
        "processed": progress.processed if progress else 0,
        "current": progress.current if progress else None,
        "usage": (progress.usage or None) if progress else None,
        "has_checkpoint": bool(progress and progress.has_checkpoint),
        "checkpoint": progress.checkpoint if progress and progress.has_checkpoint else None,
        "entries": entries,
    }


def _entries(write: ProgressWrite) -> list[dict[str, Any]]:
    return [
        *({"kind": "result", "body": result} for result in write.results),
        *({"kind": "error", "body": error} for error in write.errors),
    ]


def _returned_ids(cur: psycopg.Cursor[Any]) -> set[str]:
    """Ids returned by every statement of an executemany(returning=True)."""
    ids: set[str] = set()
    for _ in cur.results():
        ids.update(row["id"] for row in cur.fetchall())
    return ids


def _worker_params(worker: WorkerInfo) -> dict[str, Any]:
    return {
        "id": worker.id,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "queues": list(worker.queues),
        "processes": worker.processes,
        "concurrency": worker.concurrency,
        "started_at": worker.started_at,
        "last_seen_at": worker.last_seen_at,
        "lease_seconds": worker.lease_seconds,
        "running": worker.running,
    }


def _worker(row: DictRow) -> WorkerInfo:
    return WorkerInfo(
        id=row["id"],
        hostname=row["hostname"],
        pid=row["pid"],
        queues=tuple(row["queues"]),
        processes=row["processes"],
        concurrency=row["concurrency"],
        started_at=row["started_at"],
        last_seen_at=row["last_seen_at"],
        lease_seconds=row["lease_seconds"],
        running=row["running"],
    )


def _ordered(rows: Sequence[DictRow]) -> list[JobRecord]:
    """UPDATE ... RETURNING has no order: restore the claim order (priority, then age)."""
    return sorted((_record(row) for row in rows), key=lambda job: (-job.priority, job.id))


def _record(row: DictRow) -> JobRecord:
    return JobRecord(
        id=row["id"],
        task=row["task"],
        queue=row["queue"],
        status=Status(row["status"]),
        priority=row["priority"],
        args=row["args"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        timeout=row["timeout"],
        backoff=row["backoff"],
        created_at=row["created_at"],
        available_at=row["available_at"],
        owner=row["owner"],
        unique_key=row["unique_key"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        progress_total=row["progress_total"],
        progress_processed=row["progress_processed"],
        progress_current=row["progress_current"],
        usage=row["usage"] or {},
        checkpoint=row["checkpoint"],
        result=row["result"],
        error=row["error"],
        traceback=row["traceback"],
        results=tuple(row.get("results") or ()),
        errors=tuple(row.get("errors") or ()),
    )
