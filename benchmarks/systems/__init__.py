"""The systems under test: what each is, how it runs in production, and where its runner lives.

This table is data only, so that the suite can plan and report without importing any queue
library; a run imports the runner module after its fresh state exists (the modules read their
broker or database location from the environment at import, as worker processes do).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from ..base import System

NO_HTTP_API = "no HTTP job-status API of its own (W5 is underway only)"
REDIS_HISTORY = "a Redis queue: finished jobs leave the queue, there is no history table"
NO_PROGRESS = "no progress API"
NO_STREAM = "no HTTP event stream of job progress (W7 is underway only)"


@dataclass(frozen=True)
class Entry:
    name: str  # as --systems spells it
    label: str  # as the tables show it
    module: str  # under benchmarks.systems
    cls: str
    backend: str  # sqlite | postgres | redis: what the run makes fresh
    default_concurrency: int  # jobs at a time per OS process, out of the box
    packages: tuple[str, ...]  # distributions whose versions the report prints
    production: str  # how it is run, for the configuration table
    max_concurrency: int | None = None
    not_applicable: dict[str, str] = field(default_factory=dict)  # workload -> why
    baseline: bool = False  # raw SQL, not a queue: W1 only

    def load(self) -> type[System]:
        module = importlib.import_module(f"{__name__}.{self.module}")
        cls: type[System] = getattr(module, self.cls)
        return cls


def _baseline(kind: str) -> dict[str, str]:
    reason = f"raw {kind} baseline: only W1"
    return {w: reason for w in ("W2", "W3", "W4", "W5", "W6", "W7")}


SYSTEMS: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry(
            name="underway-sqlite",
            label="underway/SQLite",
            module="underway_queue",
            cls="UnderwaySQLite",
            backend="sqlite",
            default_concurrency=10,
            packages=("underway",),
            production="`underway worker --processes 2 --concurrency C`: a supervisor (the only "
            "database client) and 2 child processes with C asyncio slots each; one SQLite file "
            "in WAL mode, synchronous=NORMAL",
        ),
        Entry(
            name="underway-postgres",
            label="underway/PostgreSQL",
            module="underway_queue",
            cls="UnderwayPostgres",
            backend="postgres",
            default_concurrency=10,
            packages=("underway", "psycopg", "psycopg-pool"),
            production="`underway worker --processes 2 --concurrency C` on PostgreSQL (a fresh "
            "database, schema `underway_bench`), LISTEN/NOTIFY wake-ups",
        ),
        Entry(
            name="celery",
            label="Celery (Redis)",
            module="celery_redis",
            cls="CeleryRunner",
            backend="redis",
            default_concurrency=1,
            packages=("celery", "kombu", "redis"),
            production="`celery worker --concurrency 2` (prefork pool: 2 child processes, one "
            "job at a time each), Redis broker and Redis result backend, default settings; "
            "with C > 1 slots: 2 workers with `--pool threads --concurrency C`",
            not_applicable={"W5": NO_HTTP_API, "W6": REDIS_HISTORY, "W7": NO_STREAM},
        ),
        Entry(
            name="rq",
            label="RQ",
            module="rq_redis",
            cls="RQ",
            backend="redis",
            default_concurrency=1,
            packages=("rq", "redis"),
            production="`rq worker-pool -n 2`: 2 workers, each forking a work horse per job "
            "(the default Worker class), results kept (default result_ttl)",
            max_concurrency=1,
            not_applicable={"W5": NO_HTTP_API, "W6": REDIS_HISTORY, "W7": NO_STREAM},
        ),
        Entry(
            name="dramatiq",
            label="Dramatiq (Redis)",
            module="dramatiq_redis",
            cls="Dramatiq",
            backend="redis",
            default_concurrency=8,
            packages=("dramatiq", "redis"),
            production="`dramatiq --processes 2 --threads C` with RedisBroker and the default "
            "middleware (plus AsyncIO, for async actors); no result backend (the default)",
            not_applicable={
                "W4": NO_PROGRESS,
                "W5": NO_HTTP_API,
                "W6": REDIS_HISTORY,
                "W7": NO_STREAM,
            },
        ),
        Entry(
            name="huey-redis",
            label="Huey (Redis)",
            module="huey_queue",
            cls="HueyRedis",
            backend="redis",
            default_concurrency=1,
            packages=("huey", "redis"),
            production="2 `huey_consumer -k thread -w C` processes with RedisHuey (blocking "
            "dequeue, results stored: the defaults)",
            not_applicable={
                "W4": NO_PROGRESS,
                "W5": NO_HTTP_API,
                "W6": REDIS_HISTORY,
                "W7": NO_STREAM,
            },
        ),
        Entry(
            name="huey-sqlite",
            label="Huey (SQLite)",
            module="huey_queue",
            cls="HueySqlite",
            backend="sqlite",
            default_concurrency=1,
            packages=("huey",),
            production="2 `huey_consumer -k thread -w C` processes with SqliteHuey (one file; "
            "consumers poll, with huey's default back-off)",
            not_applicable={
                "W4": NO_PROGRESS,
                "W5": NO_HTTP_API,
                "W6": "huey deletes a task from its queue table when it is dequeued: no history",
                "W7": NO_STREAM,
            },
        ),
        Entry(
            name="saq",
            label="SAQ (Redis)",
            module="saq_queue",
            cls="Saq",
            backend="redis",
            default_concurrency=10,
            packages=("saq", "redis"),
            production="`saq settings --workers 2`: 2 worker processes with C concurrent async "
            "jobs each (default 10), Redis queue",
            not_applicable={"W5": NO_HTTP_API, "W6": REDIS_HISTORY, "W7": NO_STREAM},
        ),
        Entry(
            name="procrastinate",
            label="procrastinate (PostgreSQL)",
            module="procrastinate_pg",
            cls="Procrastinate",
            backend="postgres",
            default_concurrency=1,
            packages=("procrastinate", "psycopg", "psycopg-pool"),
            production="2 `procrastinate worker --concurrency C` processes (a fresh database "
            "with its schema applied), LISTEN/NOTIFY on, finished jobs kept (the defaults)",
            not_applicable={"W4": NO_PROGRESS, "W5": NO_HTTP_API, "W7": NO_STREAM},
        ),
        Entry(
            name="raw-sqlite",
            label="raw SQLite (baseline)",
            module="raw_sql",
            cls="RawSQLite",
            backend="sqlite",
            default_concurrency=1,
            packages=("sqlite",),
            production="sqlite3 INSERTs into a one-table queue, WAL, synchronous=NORMAL: one "
            "commit per job, or executemany in one transaction per chunk",
            not_applicable=_baseline("SQL"),
            baseline=True,
        ),
        Entry(
            name="raw-postgres",
            label="raw PostgreSQL (baseline)",
            module="raw_sql",
            cls="RawPostgres",
            backend="postgres",
            default_concurrency=1,
            packages=("psycopg",),
            production="psycopg INSERTs into a one-table queue, synchronous_commit=on: one "
            "commit per job, or executemany in one transaction per chunk",
            not_applicable=_baseline("SQL"),
            baseline=True,
        ),
    )
}
