"""Following jobs on PostgreSQL: the writes that change a job's progress or status NOTIFY its id
on the schema's jobs channel (job_channel; the wake-up room LISTENs to it), and a job is re-read
from its last entry on, in one statement. Queries in sql/postgres/watch.sql."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.rows import tuple_row

from ... import codec
from ..base import JobChanges
from ..rows import job_changes
from .connection import PooledConnection, PostgresConnection

# Characters of job ids one notification carries (PostgreSQL takes up to 8,000 bytes).
NOTIFY_PAYLOAD = 7900


class PostgresWatch(PostgresConnection):
    def jobs_since(self, cursors: Sequence[tuple[str, int]]) -> dict[str, JobChanges]:
        if not cursors:
            return {}
        afters = dict(cursors)
        params = {"ids": list(afters), "afters": list(afters.values())}
        with self._connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            rows = cur.execute(self._q["watch_jobs_since"], params).fetchall()
        found = {}
        for *job, entries in rows:
            decoded = [(seq, kind, body) for seq, kind, body in codec.loads(entries) or ()]
            found[job[0]] = job_changes(job, decoded, afters[job[0]])
        return found


def notify_watchers(
    conn: PooledConnection, query: str, job_channel: str, job_ids: Sequence[str]
) -> None:
    """Tell event streams these jobs changed, when (and if) the caller's transaction commits
    (query: watch.sql's notify_jobs): their ids joined by commas, a notification per
    NOTIFY_PAYLOAD characters."""
    batches: list[list[str]] = [[]]
    size = 0
    for job_id in job_ids:
        if batches[-1] and size + len(job_id) + 1 > NOTIFY_PAYLOAD:
            batches.append([])
            size = 0
        batches[-1].append(job_id)
        size += len(job_id) + 1
    for batch in batches:
        if batch:
            conn.execute(query, {"job_channel": job_channel, "ids": ",".join(batch)})
