"""Following jobs on SQLite: PRAGMA data_version is the cheap change counter (it moves when
another connection commits to the file), and a job is re-read from its last entry on. Queries in
sql/sqlite/watch.sql."""

from __future__ import annotations

from collections.abc import Sequence

from ... import codec
from ..base import JobChanges
from ..rows import job_changes
from .connection import Q, SQLiteConnection


class SQLiteWatch(SQLiteConnection):
    def watch_changes(self) -> set[str] | None:
        # Per thread: data_version is a property of the connection, and each thread has its own.
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        last = getattr(self._local, "watch_version", None)
        self._local.watch_version = version
        return set() if version == last else None

    def watch_wake_fd(self) -> int | None:
        return None

    def jobs_since(self, cursors: Sequence[tuple[str, int]]) -> dict[str, JobChanges]:
        conn = self._conn
        found = {}
        with self._as_store_errors():
            conn.execute("BEGIN")  # one snapshot: each row and its entries agree
            try:
                for job_id, after_seq in cursors:
                    params = {"id": job_id, "after": after_seq}
                    row = conn.execute(Q["watch_job_row"], params).fetchone()
                    if row is None:
                        continue
                    entries = conn.execute(Q["watch_entries_after"], params).fetchall()
                    decoded = [
                        (seq, kind, codec.loads(body) if kind == "result" else body)
                        for seq, kind, body in entries
                    ]
                    found[job_id] = job_changes(row, decoded, after_seq)
            finally:
                conn.execute("COMMIT")
        return found
