"""Output on PostgreSQL: a job's live output (job.stream), read from a character offset in one
statement. The chunks are written by attempts.py, with the fenced writes of progress and
outcomes, and deleted with their job (ON DELETE CASCADE). Queries in sql/postgres/output.sql."""

from __future__ import annotations

from psycopg.rows import tuple_row

from ..rows import output_bounds, output_text
from .connection import PostgresConnection


class PostgresOutput(PostgresConnection):
    def job_output(self, job_id: str, offset: int, limit: int) -> tuple[str, int] | None:
        start, end = output_bounds(offset, limit)
        params = {"id": job_id, "offset": start, "end": end}
        with self._connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            rows = cur.execute(self._q["job_output"], params).fetchall()
        return output_text(rows, start, end - start)
