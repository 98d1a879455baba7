"""Stats on SQLite: counts per queue and status, recent throughput and the workers alive, read
on the calling thread's connection. Queries in sql/sqlite/stats.sql."""

from __future__ import annotations

from ..base import Stats
from ..rows import stats_of
from .connection import Q
from .workers import SQLiteWorkers


class SQLiteStats(SQLiteWorkers):
    def stats(self, now: float) -> Stats:
        conn = self._conn
        with self._as_store_errors():
            counts = conn.execute(Q["stats_counts"]).fetchall()
            finished = conn.execute(Q["stats_finished_since"], {"since": now - 60}).fetchall()
        return stats_of(counts, finished, self.worker_list(now))
