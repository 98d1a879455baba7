"""Baselines for W1: the same INSERT an application would send, with no queue library.

One small table (id, task, args, status, created_at); one commit per job for single dispatch,
executemany in one transaction per chunk for bulk. What a queue costs beyond this is its own.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from typing import Any

from ..base import Kwargs, Send, SendMany, System

CREATE = (
    "CREATE TABLE jobs (id TEXT PRIMARY KEY, task TEXT NOT NULL, args TEXT NOT NULL, "
    "status TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)"
)
INSERT = "INSERT INTO jobs VALUES (?, ?, ?, 'pending', ?)"


class RawBase(System):
    marker = "?"
    conn: Any

    def setup(self) -> None:
        self.ids = itertools.count()
        self.insert = INSERT.replace("?", self.marker)

    def row(self, task: str, kwargs: Kwargs) -> tuple[str, str, str, float]:
        return (f"{next(self.ids):026d}", task, json.dumps(kwargs), time.time())

    def close(self) -> None:
        self.conn.close()
        super().close()


class RawSQLite(RawBase):
    label = "raw SQLite"
    marker = "?"

    def setup(self) -> None:
        super().setup()
        self.conn = sqlite3.connect(self.res.sqlite_path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(CREATE)

    def sender(self, task: str) -> Send:
        return lambda kwargs: self.conn.execute(self.insert, self.row(task, kwargs))

    def bulk_sender(self, task: str) -> SendMany:
        def send(batch: list[Kwargs]) -> None:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(self.insert, [self.row(task, k) for k in batch])
            self.conn.execute("COMMIT")

        return send


class RawPostgres(RawBase):
    label = "raw PostgreSQL"
    marker = "%s"

    def setup(self) -> None:
        import psycopg

        super().setup()
        self.conn = psycopg.connect(self.res.postgres_url, autocommit=True)
        self.conn.execute(CREATE)

    def sender(self, task: str) -> Send:
        return lambda kwargs: self.conn.execute(self.insert, self.row(task, kwargs))

    def bulk_sender(self, task: str) -> SendMany:
        def send(batch: list[Kwargs]) -> None:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.executemany(self.insert, [self.row(task, k) for k in batch])

        return send
