"""Output on SQLite: a job's live output (job.stream), read from a character offset in one
statement. The chunks are written by attempts.py, with the fenced writes of progress and
outcomes. Queries in sql/sqlite/output.sql."""

from __future__ import annotations

from ..rows import output_bounds, output_text
from .connection import Q, SQLiteConnection


class SQLiteOutput(SQLiteConnection):
    def job_output(self, job_id: str, offset: int, limit: int) -> tuple[str, int] | None:
        start, end = output_bounds(offset, limit)
        params = {"id": job_id, "offset": start, "end": end}
        with self._as_store_errors():
            rows = self._conn.execute(Q["job_output"], params).fetchall()
        return output_text(rows, start, end - start)
