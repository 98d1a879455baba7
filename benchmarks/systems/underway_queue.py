"""underway on SQLite and on PostgreSQL: the tasks its workers import, and its runner.

Worker processes import this module by `--app benchmarks.systems.underway_queue:app`; the
database comes from the run's environment (BENCH_BACKEND and BENCH_SQLITE or BENCH_POSTGRES).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

from underway import Job, Status, Underway
from underway.store import ClaimRequest, Lease, Outcome

from .. import probe, tasks
from ..base import ReadProgress, Send, SendMany, System, python_module
from ..resources import NotAvailable

SCHEMA = "underway_bench"  # PostgreSQL schema inside the run's own database
SQLITE_JOBS = "underway_jobs"
WORKER_ID = "bench-scale"


def database_url() -> str:
    if os.environ.get("BENCH_BACKEND") == "postgres":
        return f"{os.environ['BENCH_POSTGRES']}?schema={SCHEMA}"
    return "sqlite:///" + os.environ.get("BENCH_SQLITE", "underway-bench.db")


app = Underway(database_url())


@app.task(name="noop")
def noop(t: float = 0.0) -> None:
    tasks.noop(t)


@app.task(name="sleep")
async def sleep(t: float = 0.0) -> None:
    await tasks.sleep_async(t)


@app.task(name="progress")
def progress(job: Job, n: int, r: int) -> None:
    tasks.progress(lambda i: job.progress(processed=i), job.add_result, n, r)


@app.task(name="advance")
async def advance(job: Job, until: float = 0.0, step: float = 0.1) -> None:
    """W7: one step every `step` seconds until the wall-clock time `until`; each step's
    `current` is the time.time() of the call, which the watchers subtract from their arrival."""
    probe.record("advance", time.monotonic())
    while time.time() < until:
        job.advance(current=f"{time.time():.6f}")
        await asyncio.sleep(step)


def web_app() -> Any:
    """For `uvicorn --factory`, while `underway serve` does not exist."""
    from underway.web import create_app

    return create_app(app)


class UnderwayBase(System):
    def setup(self) -> None:
        app.store.schema_ensure()

    def close(self) -> None:
        app.store.close()
        super().close()

    def sender(self, task: str) -> Send:
        target, dispatch = app.tasks[task], app.dispatch
        return lambda kwargs: dispatch(target, kwargs)

    def bulk_sender(self, task: str) -> SendMany:
        many = getattr(app, "dispatch_many", None)
        if many is None:
            raise NotAvailable(
                "Underway.dispatch_many(task, [kwargs, ...]) does not exist yet (issue 6 adds it)"
            )
        target = app.tasks[task]
        return lambda batch: many(target, batch)

    def worker_commands(self, processes: int, concurrency: int) -> list[list[str]]:
        return [
            python_module(
                "underway",
                "worker",
                "--app",
                f"{__name__}:app",
                "--processes",
                str(processes),
                "--concurrency",
                str(concurrency),
            )
        ]

    def stream_worker_commands(
        self, processes: int, concurrency: int, progress_interval: float
    ) -> list[list[str]]:
        return [
            python_module(
                "benchmarks.streamworker",
                f"{__name__}:app",
                str(processes),
                str(concurrency),
                str(progress_interval),
            )
        ]

    def stream_poll_interval(self) -> float | None:
        import inspect

        from underway.web import create_app

        default = inspect.signature(create_app).parameters["poll_interval"].default
        return float(default) if isinstance(default, int | float) else None

    def cancel(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            app.cancel(job_id)

    def server_command(self, port: int) -> list[str]:
        try:
            import underway.web  # noqa: F401
        except ImportError as exc:
            raise NotAvailable(f"underway.web cannot be imported: {exc}") from exc
        from underway.cli import main

        serve = main.commands.get("serve")  # type: ignore[attr-defined]
        if serve is None:
            self.server_note = "served by uvicorn running underway.web.create_app (no `serve` yet)"
            return python_module(
                "uvicorn",
                "--factory",
                f"{__name__}:web_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            )
        options = {name for param in serve.params for name in param.opts}
        command = python_module("underway", "serve", "--app", f"{__name__}:app")
        if "--host" in options:
            command += ["--host", "127.0.0.1"]
        if "--port" not in options:
            raise NotAvailable("`underway serve` has no --port option")
        self.server_note = "served by `underway serve`"
        return [*command, "--port", str(port)]

    def job_ids(self, count: int) -> list[str]:
        ids: list[str] = []
        cursor = None
        while len(ids) < count:
            documents, cursor = app.list(limit=min(1000, count - len(ids)), cursor=cursor)
            ids.extend(document["job_id"] for document in documents)
            if cursor is None:
                break
        return ids

    def claim_and_finish(self, count: int) -> float:
        store = app.store
        start = time.perf_counter()
        for _ in range(count):
            now = time.time()
            claimed = store.job_claim(WORKER_ID, ClaimRequest((), 1, 30, now))
            if not claimed:
                raise RuntimeError("no job left to claim")
            job = claimed[0]
            outcome = Outcome(Lease(job.id, job.attempts), Status.COMPLETED, time.time())
            store.job_finish(WORKER_ID, [outcome])
        return time.perf_counter() - start


class UnderwaySQLite(UnderwayBase):
    label = "underway/SQLite"

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.res.sqlite_path, isolation_level=None, timeout=30)

    def write_counter(self) -> Callable[[], int]:
        """Counts updates of job rows: each write transaction of a job (claim, progress flush,
        lease renewal, finish) updates its row once; result rows ride in the same one."""
        with self._connect() as conn:
            conn.executescript(
                "CREATE TABLE bench_writes (n INTEGER NOT NULL);"
                "INSERT INTO bench_writes VALUES (0);"
                f"CREATE TRIGGER bench_count AFTER UPDATE ON {SQLITE_JOBS} "
                "BEGIN UPDATE bench_writes SET n = n + 1; END;"
            )

        def count() -> int:
            with self._connect() as conn:
                return int(conn.execute("SELECT n FROM bench_writes").fetchone()[0])

        return count

    @contextlib.contextmanager
    def progress_reader(self) -> Iterator[ReadProgress]:
        query = f"SELECT id, progress_current FROM {SQLITE_JOBS}"
        with contextlib.closing(self._connect()) as conn:
            yield lambda: conn.execute(query).fetchall()

    def fill_history(self, count: int) -> None:
        with self._connect() as conn:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({SQLITE_JOBS})")]
            rest = ", ".join(f'"{c}"' for c in columns if c != "id")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                f"WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq "
                f"WHERE i < :n) INSERT INTO {SQLITE_JOBS} (id, {rest}) "
                f"SELECT printf('%026d', seq.i), {rest} FROM seq, "
                f"(SELECT * FROM {SQLITE_JOBS} WHERE status = 'completed' LIMIT 1)",
                {"n": count},
            )
            conn.execute("COMMIT")


class UnderwayPostgres(UnderwayBase):
    label = "underway/PostgreSQL"

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.res.postgres_url, autocommit=True)

    def write_counter(self) -> Callable[[], int]:
        """As for SQLite: updates of job rows, counted by a trigger in the run's database."""
        with self._connect() as conn:
            conn.execute("CREATE TABLE public.bench_writes (n bigint NOT NULL)")
            conn.execute("INSERT INTO public.bench_writes VALUES (0)")
            conn.execute(
                "CREATE FUNCTION public.bench_count() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN UPDATE public.bench_writes SET n = n + 1; RETURN NULL; END $$"
            )
            conn.execute(
                f"CREATE TRIGGER bench_count AFTER UPDATE ON {SCHEMA}.jobs "
                "FOR EACH ROW EXECUTE FUNCTION public.bench_count()"
            )

        def count() -> int:
            with self._connect() as conn:
                return int(conn.execute("SELECT n FROM public.bench_writes").fetchone()[0])

        return count

    @contextlib.contextmanager
    def progress_reader(self) -> Iterator[ReadProgress]:
        query = f"SELECT id, progress_current FROM {SCHEMA}.jobs"
        with contextlib.closing(self._connect()) as conn:
            yield lambda: conn.execute(query).fetchall()

    def fill_history(self, count: int) -> None:
        with self._connect() as conn:
            columns = [
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = 'jobs' ORDER BY ordinal_position",
                    (SCHEMA,),
                )
            ]
            rest = ", ".join(f'"{c}"' for c in columns if c != "id")
            conn.execute(
                f"INSERT INTO {SCHEMA}.jobs (id, {rest}) "
                f"SELECT lpad(i::text, 26, '0'), {rest} FROM generate_series(1, %s) AS i, "
                f"(SELECT * FROM {SCHEMA}.jobs WHERE status = 'completed' LIMIT 1) AS t",
                (count,),
            )
            # What autovacuum would have done to a table that grew this large.
            conn.execute(f"VACUUM ANALYZE {SCHEMA}.jobs")
