"""Jobs on PostgreSQL: dispatch (one, many by COPY, or inside the caller's own transaction),
reads, and the operator's actions (cancel, retry, delete, prune). Every change that makes work
ready sends a NOTIFY, delivered when it commits. Queries in sql/postgres/jobs.sql."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row, tuple_row

from ... import codec
from ...errors import StoreError
from ...model import JobRecord, NewJob, Status
from ..base import transition_result
from ..rows import ListsJobs, insert_params, insert_row, job_record, retry_refused
from .connection import PostgresConnection
from .values import json_text

PRUNE_BATCH = 5000
PENDING = Status.PENDING.value


class PostgresJobs(ListsJobs, PostgresConnection):
    def job_enqueue(self, job: NewJob, connection: Any = None) -> str:
        params = insert_params(job, json_text(job.args, strict=True, text=job.args_json))
        params["channel"] = self.channel
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
        rows = []
        for job in jobs:
            row = insert_row(job, json_text(job.args, strict=True, text=job.args_json))
            rows.append((*row[:3], PENDING, *row[3:]))  # COPY's columns: status after queue
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
            cur = conn.cursor(row_factory=tuple_row)
            row = cur.execute(self._q["job_get"], {"id": job_id}).fetchone()
        if row is None:
            return None
        *job, results, errors = row  # the entries, as JSON arrays
        loads = codec.loads
        return job_record(job, tuple(loads(results) or ()), tuple(loads(errors) or ()))

    def _job_list_rows(self, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with self._connection() as conn:
            # Never prepared: planned with the actual filters, so absent ones fold away and the
            # right index is used.
            cur = conn.cursor(row_factory=tuple_row)
            return cur.execute(self._q["job_list"], params, prepare=False).fetchall()

    def job_cancel(self, job_id: str, now: float) -> JobRecord:
        with self._connection() as conn:
            params = {"id": job_id, "now": now, "job_channel": self.job_channel}
            changed = conn.execute(self._q["job_cancel"], params).rowcount
        return transition_result(self, job_id, changed, "cancel", "pending or processing")

    def job_retry(self, job_id: str, now: float) -> JobRecord:
        params = {
            "id": job_id,
            "now": now,
            "channel": self.channel,
            "job_channel": self.job_channel,
        }
        try:
            with self._connection() as conn:
                changed = conn.execute(self._q["job_retry"], params).rowcount
        except pg_errors.UniqueViolation:
            raise retry_refused(job_id) from None
        return transition_result(self, job_id, changed, "retry", "failed or cancelled")

    def job_delete(self, job_id: str) -> bool:
        with self._connection() as conn:
            return conn.execute(self._q["job_delete"], {"id": job_id}).rowcount > 0

    def job_prune(self, finished_before: float) -> int:
        # In batches, each its own transaction: pruning a million rows never holds one huge
        # transaction open. Their results, errors and output go with them (ON DELETE CASCADE).
        total = 0
        params = {"before": finished_before, "batch": PRUNE_BATCH}
        with self._connection() as conn:
            while True:
                deleted = conn.execute(self._q["jobs_prune"], params).rowcount
                total += deleted
                if deleted < PRUNE_BATCH:
                    return total
