"""Stats on PostgreSQL: counts per queue and status, recent throughput and the workers alive,
three queries in one pipelined round trip. Queries in sql/postgres/stats.sql."""

from __future__ import annotations

from ..base import Stats
from ..rows import stats_of
from .connection import PostgresConnection
from .workers import worker


class PostgresStats(PostgresConnection):
    def stats(self, now: float) -> Stats:
        with self._connection() as conn:
            with conn.pipeline():
                counts_cur = conn.execute(self._q["stats_counts"])
                finished_cur = conn.execute(self._q["stats_finished_since"], {"since": now - 60})
                workers_cur = conn.execute(self._q["workers_alive"], {"now": now})
            counts = counts_cur.fetchall()
            finished = finished_cur.fetchall()
            workers = [worker(row) for row in workers_cur.fetchall()]
        return stats_of(counts, finished, workers)
