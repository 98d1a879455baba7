"""Workers and their leases on PostgreSQL: heartbeats that renew leases (one pipelined
transaction that need not wait for the WAL flush), the rescue of jobs whose lease ran out, and
the list of workers alive. Queries in sql/postgres/workers.sql."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.rows import DictRow

from ...model import Lease, Status
from ..base import WorkerInfo
from ..rows import WORKERS_FORGOTTEN_AFTER, rescued, worker_info, worker_params
from .connection import PostgresConnection


class PostgresWorkers(PostgresConnection):
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
                conn.execute(self._q["worker_upsert"], worker_params(worker, list(worker.queues)))
                # Planned for the leases at hand: a reused generic plan guesses the array's size
                # and may walk every processing job of every worker instead of the ids given.
                cur = conn.execute(self._q["job_renew_leases"], renew, prepare=False)
            return {row["id"] for row in cur.fetchall()}

    def lease_rescue(self, now: float) -> list[tuple[str, Status]]:
        with self._connection() as conn:
            with conn.pipeline(), conn.transaction():
                cur = conn.execute(self._q["lease_rescue"], {"now": now, "channel": self.channel})
                conn.execute(
                    self._q["workers_forget_stale"], {"before": now - WORKERS_FORGOTTEN_AFTER}
                )
            rows = cur.fetchall()
        return rescued(rows)

    def worker_list(self, now: float) -> list[WorkerInfo]:
        with self._connection() as conn:
            rows = conn.execute(self._q["workers_alive"], {"now": now}).fetchall()
        return [worker(row) for row in rows]

    def worker_remove(self, worker_id: str) -> None:
        with self._connection() as conn:
            conn.execute(self._q["worker_delete"], {"id": worker_id})


def worker(row: DictRow) -> WorkerInfo:
    # queues are kept as a text[]
    return worker_info(row, tuple(row["queues"]))
