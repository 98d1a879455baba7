"""The SQLite store's connections: the file and its options, one connection per thread (opened
on the thread's first use, after the schema is ensured), and write transactions.

SQLiteConnection is the base every area of the store (jobs, attempts, workers, ...) builds on;
it owns the per-thread connections, which only their own thread uses, and the list of them all,
which close() empties.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ...errors import ConfigurationError, StoreError, StoreUnavailable
from ...settings import DatabaseURL
from ..queries import load_queries

WAL_CHECKPOINT_PAGES = 4000
SYNCHRONOUS_MODES = frozenset({"off", "normal", "full", "extra"})

Q = load_queries("sqlite")


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


class SQLiteConnection:
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

    def schema_ensure(self) -> None:
        """Create or migrate the schema (schema.py): done before a thread's first connection."""
        raise NotImplementedError

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
        with self._as_store_errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _as_store_errors(self) -> Iterator[None]:
        """Turn SQLite's errors into underway's: a lock held past the busy time-out is an outage
        (StoreUnavailable); a damaged or unreadable file is a StoreError naming the file.
        Constraint errors pass through for the operation to explain."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreUnavailable(
                    f"{self.path} stayed locked by another writer for longer than the busy "
                    f"time-out ({self.busy_timeout:g} s; ?timeout= in the URL sets it)"
                ) from exc
            raise StoreError(f"{self.path} is not a usable SQLite database: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:  # integrity, programming, data errors
                raise
            raise StoreError(f"{self.path} is not a usable SQLite database: {exc}") from exc

    def close(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections.clear()
        self._local = threading.local()
