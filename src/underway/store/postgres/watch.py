"""Following jobs on PostgreSQL: the writes that change a job's progress or status NOTIFY its id
on the schema's jobs channel (job_channel; the wake-up room LISTENs to it), and a job is re-read
from its last entry on, in one statement. Queries in sql/postgres/watch.sql."""

from __future__ import annotations

from psycopg.rows import tuple_row

from ... import codec
from ..base import JobChanges
from ..rows import job_changes
from .connection import PostgresConnection


class PostgresWatch(PostgresConnection):
    def job_since(self, job_id: str, after_seq: int) -> JobChanges | None:
        with self._connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            row = cur.execute(self._q["watch_job_since"], {"id": job_id, "after": after_seq})
            found = row.fetchone()
        if found is None:
            return None
        *job, entries = found
        return job_changes(job, [tuple(e) for e in codec.loads(entries) or ()], after_seq)
