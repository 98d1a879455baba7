"""PostgreSQL backend: workers on many machines, SKIP LOCKED claims, LISTEN/NOTIFY wake-ups.

Everything lives in one PostgreSQL schema (default ``underway``, chosen by ``?schema=NAME`` in
the URL), created and migrated by schema_ensure() under an advisory lock. Times are stored as
double precision seconds since the epoch, exactly as the model holds them, so nothing is lost or
rounded on the way in and out.

PostgresStore is composed of one class per room, each on the PostgresConnection base:

- connection.py  the URL, the pool, reconnection, fork safety, StoreUnavailable
- schema.py      recognising the schema as underway's, and its migrations
- wakeup.py      the LISTEN connection that wakes workers
- jobs.py        dispatch, reads, and the operator's actions
- attempts.py    claim, progress, finish and release: the worker's writes to its jobs
- workers.py     heartbeats, leases and their rescue, workers alive
- stats.py       counts and throughput
- output.py      reading a job's live output from an offset
- watch.py       following jobs for event streams: reads from a cursor (ids come by NOTIFY)
- batches.py     batches of child jobs: counters kept by triggers, callbacks settled once
- values.py      JSON and text as PostgreSQL can hold them

Each area's queries are in sql/postgres/<area>.sql; a new area is a new module, a new .sql file
and one more base class below. The area classes hold no state of their own: the connection,
schema and wake-up rooms own it, as their docstrings say.
"""

from __future__ import annotations

from .attempts import PostgresAttempts
from .batches import PostgresBatches
from .jobs import PostgresJobs
from .output import PostgresOutput
from .schema import PostgresSchema
from .stats import PostgresStats
from .wakeup import PostgresWakeup
from .watch import PostgresWatch
from .workers import PostgresWorkers

__all__ = ["PostgresStore"]


class PostgresStore(
    PostgresJobs,
    PostgresAttempts,
    PostgresBatches,
    PostgresOutput,
    PostgresWorkers,
    PostgresStats,
    PostgresWatch,
    PostgresWakeup,
    PostgresSchema,
):
    """Thread-safe: operations borrow a pooled connection; the LISTEN connection has a lock."""
