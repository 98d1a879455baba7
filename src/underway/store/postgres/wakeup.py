"""The PostgreSQL store's wake-up: a dedicated autocommit connection LISTENs on the schema's
channel; every change that makes work ready sends a NOTIFY on it, which PostgreSQL delivers when
that change commits. The connection is re-established with backoff when the server goes away,
and the first check after that says "changed", as notifications may have been missed.

The Listener owns that connection and its state, all under its own lock; in a child of fork it
drops its parent's connection (never closing it) and starts afresh.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import psycopg
from psycopg.pq import ConnStatus
from psycopg_pool import ConnectionPool

from ...settings import DatabaseURL
from .connection import PostgresConnection, readable

LISTEN_RETRY_MIN = 0.5
LISTEN_RETRY_MAX = 5.0


class Listener:
    """The LISTEN connection, (re)connected on demand; thread-safe."""

    def __init__(self, conninfo: str, kwargs: dict[str, Any], listen_sql: str) -> None:
        self._conninfo = conninfo
        self._kwargs = kwargs
        self._listen_sql = listen_sql
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._conn: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0
        self._backoff = LISTEN_RETRY_MIN
        self._missed = True
        self._payloads: set[str] = set()

    def fileno(self) -> int | None:
        with self._lock:
            conn = self._listen()
            return None if conn is None else conn.fileno()

    def changed(self) -> bool:
        return self.take() != set()

    def take(self) -> set[str] | None:
        """What the notifications since the last call carried (job ids, for the jobs channel);
        None when some may have been missed (a first or new connection)."""
        with self._lock:
            conn = self._listen()
            if conn is None:
                return set()
            _drain_notifications(conn, self._payloads)
            payloads, self._payloads = self._payloads, set()
            if conn.pgconn.status != ConnStatus.OK:
                # The server went away: reconnect (now, then with backoff). Notifications may
                # have been missed meanwhile, so the first call after reconnecting says so.
                self._drop()
                if self._listen() is None:
                    return set()
            missed, self._missed = self._missed, False
            return None if missed else payloads

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            self._missed = True
        if conn is not None and self._pid == os.getpid():
            conn.close()

    def _listen(self) -> psycopg.Connection[Any] | None:
        """The LISTEN connection; (re)connected at most once per backoff step. Caller holds
        _lock."""
        if self._pid != os.getpid():
            # A child of fork must not use (or close) its parent's socket: start afresh.
            self._pid = os.getpid()
            self._conn = None
        conn = self._conn
        if conn is not None and (conn.closed or conn.pgconn.status != ConnStatus.OK):
            self._drop()
        if self._conn is not None or time.monotonic() < self._retry_at:
            return self._conn
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, **self._kwargs)
        except psycopg.Error:
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(LISTEN_RETRY_MAX, self._backoff * 2)
            return None
        # Notifications that come in while a statement runs on it (LISTEN, a ping) reach us here.
        conn.add_notify_handler(self._on_notify)
        try:
            conn.execute(self._listen_sql)
        except psycopg.Error:
            conn.close()
            self._retry_at = time.monotonic() + self._backoff
            return None
        self._conn = conn
        self._backoff = LISTEN_RETRY_MIN
        self._missed = True
        return conn

    def _on_notify(self, notify: psycopg.Notify) -> None:
        self._payloads.update(notify.payload.split(","))

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._retry_at = 0.0
        self._missed = True


def _drain_notifications(conn: psycopg.Connection[Any], payloads: set[str]) -> None:
    """Read what the server sent, without waiting, adding the comma-separated parts of each
    notification's payload to payloads.

    Anything else that arrives on an idle LISTEN connection is the server ending the session
    (its reason comes a moment before the end of the stream): a ping then finds out for sure,
    marking the connection broken."""
    try:
        ready = readable(conn.pgconn.socket)
    except (psycopg.Error, OSError, ValueError):
        return
    arrived = False
    try:
        if ready:
            conn.pgconn.consume_input()
        while (notify := conn.pgconn.notifies()) is not None:
            arrived = True
            payloads.update(notify.extra.decode().split(","))
        if ready and not arrived:
            ConnectionPool.check_connection(conn)
    except psycopg.Error:
        pass


class PostgresWakeup(PostgresConnection):
    def __init__(self, url: DatabaseURL) -> None:
        super().__init__(url)
        self._listener = Listener(self._conninfo, self._kwargs, self._q["listen"])
        self._job_listener = Listener(self._conninfo, self._kwargs, self._q["listen_jobs"])

    def work_wake_fd(self) -> int | None:
        return self._listener.fileno()

    def work_changed(self) -> bool:
        return self._listener.changed()

    def watch_changes(self) -> set[str] | None:
        return self._job_listener.take()

    def watch_wake_fd(self) -> int | None:
        return self._job_listener.fileno()

    def close(self) -> None:
        super().close()
        self._listener.close()
        self._job_listener.close()
