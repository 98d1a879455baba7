"""SQLite backend: one file in WAL mode, the zero-setup default on one machine.

SQLiteStore is composed of one class per room, each on the SQLiteConnection base:

- connection.py  the file, its options, a connection per thread, write transactions
- schema.py      recognising the file as underway's, and its migrations
- wakeup.py      the change check a worker polls (there is no descriptor to wait on)
- jobs.py        dispatch, reads, and the operator's actions
- attempts.py    claim, progress, finish and release: the worker's writes to its jobs
- workers.py     heartbeats, leases and their rescue, workers alive
- stats.py       counts and throughput
- output.py      reading a job's live output from an offset
- watch.py       following jobs for event streams: a change counter, reads from a cursor
- batches.py     batches of child jobs: counters kept by triggers, callbacks settled once

Each area's queries are in sql/sqlite/<area>.sql; a new area is a new module, a new .sql file
and one more base class below. The area classes hold no state of their own: the connection,
schema and wake-up rooms own it, as their docstrings say.
"""

from __future__ import annotations

from .attempts import SQLiteAttempts
from .batches import SQLiteBatches
from .jobs import SQLiteJobs
from .output import SQLiteOutput
from .schema import SQLiteSchema
from .stats import SQLiteStats
from .wakeup import SQLiteWakeup
from .watch import SQLiteWatch

__all__ = ["SQLiteStore"]


class SQLiteStore(
    SQLiteJobs,
    SQLiteAttempts,
    SQLiteBatches,
    SQLiteOutput,
    SQLiteStats,
    SQLiteWatch,
    SQLiteWakeup,
    SQLiteSchema,
):
    """Thread-safe: each thread gets its own connection; writes run in BEGIN IMMEDIATE."""
