"""Workers and their leases on SQLite: heartbeats that renew leases, the rescue of jobs whose
lease ran out, and the list of workers alive. Queries in sql/sqlite/workers.sql."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ...model import Lease, Status
from ..base import WorkerInfo
from ..rows import WORKER_LOST, WORKERS_FORGOTTEN_AFTER, rescued, worker_info, worker_params
from .connection import Q, SQLiteConnection


class SQLiteWorkers(SQLiteConnection):
    def job_heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease_seconds: float, now: float
    ) -> set[str]:
        # Only the leases given are renewed: a job the worker no longer lists must run out of
        # lease and be rescued rather than stay processing for as long as the worker lives.
        held: set[str] = set()
        with self._write() as conn:
            conn.execute(Q["worker_upsert"], worker_params(worker, ",".join(worker.queues)))
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

    def lease_rescue(self, now: float) -> list[tuple[str, Status]]:
        with self._write() as conn:
            rows = conn.execute(Q["lease_rescue"], {"now": now}).fetchall()
            conn.executemany(
                Q["entry_insert"],
                [
                    {
                        "job_id": row["id"],
                        "kind": "error",
                        "body": f"attempt {row['attempts']}: {WORKER_LOST}",
                    }
                    for row in rows
                ],
            )
            conn.execute(Q["workers_forget_stale"], {"before": now - WORKERS_FORGOTTEN_AFTER})
        return rescued(rows)

    def worker_list(self, now: float) -> list[WorkerInfo]:
        with self._as_store_errors():
            rows = self._conn.execute(Q["workers_alive"], {"now": now}).fetchall()
        return [_worker(row) for row in rows]

    def worker_remove(self, worker_id: str) -> None:
        with self._write() as conn:
            conn.execute(Q["worker_delete"], {"id": worker_id})


def _worker(row: sqlite3.Row) -> WorkerInfo:
    # queues are kept as one comma-separated text
    return worker_info(row, tuple(q for q in row["queues"].split(",") if q))
