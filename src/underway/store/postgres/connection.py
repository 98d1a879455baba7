"""The PostgreSQL store's connections: the URL and its options, the pool, reconnection, fork
safety, and the translation of "the server cannot serve us" into StoreUnavailable.

Connections come from a psycopg_pool pool, in autocommit mode. A failure to reach the server
surfaces as StoreUnavailable within the pool timeout (at once when the server refuses), and the
same store works again once the server is back: stale pooled connections are detected without
a round trip and replaced. PostgresConnection is the base every area of the store builds on; it
owns the pool (replaced under _lock; dropped, never closed, in a child of fork).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import ConfigurationError, StoreUnavailable
from ...settings import DatabaseURL
from ..queries import load_queries

DEFAULT_SCHEMA = "underway"
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

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# SQLSTATEs that mean "the server cannot serve us right now" rather than "this query is wrong".
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "53400"})

Q = load_queries("postgres")
POOL_NAME_PREFIX = "underway-"


class _QuietPoolFailures(logging.Filter):
    """psycopg_pool warns of every failed connection attempt of its pools; for ours the store
    already says it once, as StoreUnavailable naming the server (the CLI's one error line, the
    worker's "database unavailable" warning), so the pool's own lines are dropped. Other pools
    of the host application keep theirs."""

    failures = ("error connecting in ", "reconnection attempt in pool ")

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        ours = bool(args) and str(args[0]).startswith(POOL_NAME_PREFIX)
        return not (ours and str(record.msg).startswith(self.failures))


logging.getLogger("psycopg.pool").addFilter(_QuietPoolFailures())


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
    password) at once rather than a bare time-out. It hands jsonb over as text, which
    rows.job_record decodes for every backend alike."""

    @classmethod
    def connect(cls, *args: Any, **kwargs: Any) -> Any:
        errors: _ConnectErrors = kwargs.pop("underway_errors")
        try:
            conn = super().connect(*args, **kwargs)
        except psycopg.Error as exc:
            errors.record(exc)
            raise
        conn.adapters.register_loader("jsonb", TextLoader)
        return conn


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


def _channel_name(schema: str, suffix: str = "") -> str:
    channel = f"underway.{schema}{suffix}"
    if len(channel) <= 63:
        return channel
    return "underway." + hashlib.sha1(schema.encode()).hexdigest()[:24] + suffix


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


def _describe(params: dict[str, Any]) -> str:
    host = params.get("host") or params.get("hostaddr") or "the local socket"
    port = params.get("port") or "5432"
    database = params.get("dbname") or params.get("user") or "(default database)"
    return f"{host}:{port}/{database}"


def readable(fd: int) -> bool:
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
        if readable(conn.fileno()):
            ConnectionPool.check_connection(conn)
    except (psycopg.Error, OSError, ValueError):
        return False
    return True


Pool = ConnectionPool[PooledConnection]


class PostgresConnection:
    """Thread-safe: operations borrow a pooled connection."""

    writes_wait_on_server = True

    def __init__(self, url: DatabaseURL) -> None:
        self.url = _redacted(url.raw)
        self.schema = _schema_name(url)
        self.channel = _channel_name(self.schema)  # work may be ready
        self.job_channel = _channel_name(self.schema, ".jobs")  # these jobs changed (ids)
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
        self._q = {name: self._sql(text) for name, text in Q.items()}
        self._errors = _ConnectErrors()
        self._lock = threading.Lock()
        self._pool: Pool | None = None
        self._pid = os.getpid()
        self._schema_ready = False

    def _sql(self, text: str) -> str:
        """Query text with this store's {schema} and {channel} filled in, quoted."""
        names = {
            "schema": sql.Identifier(self.schema),
            "channel": sql.Identifier(self.channel),
            "job_channel": sql.Identifier(self.job_channel),
        }
        return sql.SQL(text).format(**names).as_string(None)

    def schema_ensure(self) -> None:
        """Create or migrate the schema (schema.py): done before the first operation."""
        raise NotImplementedError

    def _open_pool(self) -> Pool:
        with self._lock:
            if self._pid != os.getpid():
                # A child of fork must not use (or close) its parent's sockets: start afresh.
                self._pid = os.getpid()
                self._pool = None
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
                    name=f"{POOL_NAME_PREFIX}{self.schema}",
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
