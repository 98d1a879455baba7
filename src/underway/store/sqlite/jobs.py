"""Jobs on SQLite: dispatch (one, many, or inside the caller's own transaction), reads, and the
operator's actions (cancel, retry, delete, prune). Queries in sql/sqlite/jobs.sql."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ... import codec
from ...errors import StoreError
from ...model import JobRecord, NewJob
from ..base import transition_result
from ..rows import ListsJobs, insert_params, insert_row, job_record, retry_refused
from .connection import Q, SQLiteConnection

# 12 parameters a row: a statement stays within 999, the smallest limit SQLite has had.
JOBS_PER_INSERT = 80
_INSERT_HEAD, _, _INSERT_ROW = Q["jobs_insert_many"].rpartition("VALUES")
_INSERT_ONE = Q["jobs_insert_many"]
_INSERT_CHUNK = f"{_INSERT_HEAD}VALUES {', '.join([_INSERT_ROW.strip()] * JOBS_PER_INSERT)}"


class SQLiteJobs(ListsJobs, SQLiteConnection):
    def job_enqueue(self, job: NewJob, connection: Any = None) -> str:
        if connection is None and job.unique_key is None:
            # One statement is its own transaction: no BEGIN and COMMIT round trips. Without a
            # unique key there is no conflict to look for: the plain insert of one row.
            try:
                self._conn.execute(_INSERT_ONE, insert_row(job, job.encoded_args()))
            except sqlite3.DatabaseError:
                # Entered only on an error: as a wrapper it costs a fifth of dispatch's Python.
                with self._as_store_errors():
                    raise
            return job.id
        params = insert_params(job, job.encoded_args())
        if connection is not None:
            if not isinstance(connection, sqlite3.Connection):
                raise TypeError(
                    f"connection must be a sqlite3.Connection for {self.url}, "
                    f"got {type(connection).__name__}"
                )
            self.schema_ensure()
            row = _insert(connection, params)
        else:
            with self._write() as conn:
                row = _insert(conn, params)
        if row is None:
            raise StoreError(f"job {job.id} was neither inserted nor found by its unique key")
        return str(row[0])

    def job_enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        if not jobs:
            return []
        # Whole chunks through one many-row statement; the rest a row at a time, so that odd
        # batch sizes do not each compile (and crowd the statement cache with) a statement.
        whole = len(jobs) - len(jobs) % JOBS_PER_INSERT
        with self._write() as conn:
            for start in range(0, whole, JOBS_PER_INSERT):
                params: list[Any] = []
                for job in jobs[start : start + JOBS_PER_INSERT]:
                    params += insert_row(job, job.encoded_args())
                conn.execute(_INSERT_CHUNK, params)
            conn.executemany(
                _INSERT_ONE, [insert_row(job, job.encoded_args()) for job in jobs[whole:]]
            )
        return [job.id for job in jobs]

    def job_get(self, job_id: str) -> JobRecord | None:
        conn = self._conn
        with self._as_store_errors():
            row = conn.execute(Q["job_get"], {"id": job_id}).fetchone()
            if row is None:
                return None
            entries = conn.execute(Q["job_entries"], {"id": job_id}).fetchall()
        results = tuple(codec.loads(body) for kind, body in entries if kind == "result")
        errors = tuple(body for kind, body in entries if kind == "error")
        return job_record(row, results, errors)

    def _job_list_rows(self, params: dict[str, Any]) -> list[sqlite3.Row]:
        with self._as_store_errors():
            return self._conn.execute(Q["job_list"], params).fetchall()

    def job_cancel(self, job_id: str, now: float) -> JobRecord:
        with self._write() as conn:
            changed = conn.execute(Q["job_cancel"], {"id": job_id, "now": now}).rowcount
        return transition_result(self, job_id, changed, "cancel", "pending or processing")

    def job_retry(self, job_id: str, now: float) -> JobRecord:
        try:
            with self._write() as conn:
                changed = conn.execute(Q["job_retry"], {"id": job_id, "now": now}).rowcount
        except sqlite3.IntegrityError:
            raise retry_refused(job_id) from None
        return transition_result(self, job_id, changed, "retry", "failed or cancelled")

    def job_delete(self, job_id: str) -> bool:
        with self._write() as conn:
            deleted = conn.execute(Q["job_delete"], {"id": job_id}).rowcount
            if deleted:
                conn.execute(Q["entries_delete"], {"id": job_id})
                conn.execute(Q["output_delete"], {"id": job_id})
        return bool(deleted)

    def job_prune(self, finished_before: float) -> int:
        with self._write() as conn:
            conn.execute(Q["jobs_prune_entries"], {"before": finished_before})
            conn.execute(Q["jobs_prune_output"], {"before": finished_before})
            return int(conn.execute(Q["jobs_prune"], {"before": finished_before}).rowcount)


def _insert(conn: sqlite3.Connection, params: dict[str, Any]) -> Any:
    """Insert; return a row whose first column is the id of the job that now holds the key."""
    if conn.execute(Q["job_insert"], params).rowcount:
        return (params["id"],)
    return conn.execute(Q["job_active_by_unique_key"], params).fetchone()
