"""Progress is coalesced: many advance() calls cost a handful of database writes, and the last
value is stored with the job's completion."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import pytest

from underway.settings import parse_database_url

from .conftest import Harness

pytestmark = pytest.mark.slow

ADVANCES = 10_000


def count_progress_writes(url: str) -> Callable[[], int]:
    """Add a trigger counting each UPDATE that sets a job's processed count; return a function
    that reads the count."""
    parsed = parse_database_url(url)
    if parsed.scheme == "sqlite":
        return _sqlite_counter(parsed.path)
    return _postgres_counter(url, parsed.options.get("schema", "underway"))


def _sqlite_counter(path: str) -> Callable[[], int]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            """
            CREATE TABLE write_count (n INTEGER NOT NULL);
            INSERT INTO write_count VALUES (0);
            CREATE TRIGGER count_progress_writes AFTER UPDATE OF progress_processed
            ON underway_jobs BEGIN UPDATE write_count SET n = n + 1; END;
            """
        )

    def read() -> int:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return int(conn.execute("SELECT n FROM write_count").fetchone()[0])

    return read


def _postgres_counter(url: str, schema: str) -> Callable[[], int]:
    import psycopg
    from psycopg import sql

    conninfo = urlunsplit(urlsplit(url)._replace(query=""))
    statements = [
        "CREATE TABLE {s}.write_count (n integer NOT NULL)",
        "INSERT INTO {s}.write_count VALUES (0)",
        "CREATE FUNCTION {s}.count_write() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN UPDATE {s}.write_count SET n = n + 1; RETURN NULL; END $$",
        "CREATE TRIGGER count_progress_writes AFTER UPDATE OF progress_processed ON {s}.jobs "
        "FOR EACH ROW EXECUTE FUNCTION {s}.count_write()",
    ]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in statements:
            conn.execute(sql.SQL(statement).format(s=sql.Identifier(schema)))

    def read() -> int:
        with psycopg.connect(conninfo) as conn:
            query = sql.SQL("SELECT n FROM {s}.write_count").format(s=sql.Identifier(schema))
            row = conn.execute(query).fetchone()
            assert row is not None
            return int(row[0])

    return read


def test_ten_thousand_advances_make_a_handful_of_writes(uw: Harness) -> None:
    progress_writes = count_progress_writes(uw.url)
    # About a second of work: several progress intervals (250 ms) pass while it runs.
    job_id = uw.dispatch("chatty", n=ADVANCES, pause_every=1000, pause=0.1)
    worker = uw.worker("--processes", "1", "--concurrency", "1", "--burst")

    assert worker.wait() == 0, worker.log()
    document = uw.get(job_id)
    assert document["status"] == "completed"
    assert document["result"] == ADVANCES
    progress = document["progress"]
    assert {key: progress[key] for key in ("total", "processed", "percent", "current")} == {
        "total": ADVANCES,
        "processed": ADVANCES,
        "percent": 100.0,
        "current": f"item {ADVANCES}",
    }
    # The rate is whatever the last write measured (test_worker_output.py follows it); once
    # the job is finished there is nothing left to estimate.
    assert "rate_per_s" in progress and progress["eta_s"] is None
    writes = progress_writes()
    assert 1 <= writes <= 20, f"{writes} progress writes for {ADVANCES} advance() calls"
