"""procrastinate on PostgreSQL: its schema in the run's own database, LISTEN/NOTIFY workers."""

from __future__ import annotations

import os
import time
from typing import Any

import procrastinate
from procrastinate import jobs

from .. import tasks
from ..base import SendAsync, SendManyAsync, System, python_module

URL = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=URL))


@app.task(name="noop")
def noop(t: float = 0.0) -> None:
    tasks.noop(t)


@app.task(name="sleep")
async def sleep(t: float = 0.0) -> None:
    await tasks.sleep_async(t)


TASKS: dict[str, Any] = {"noop": noop, "sleep": sleep}


class Procrastinate(System):
    """Driven through its async API (defer_async, batch_defer_async) on one open pool."""

    label = "procrastinate (PostgreSQL)"
    asynchronous = True

    def setup(self) -> None:
        self.run(app.connector.open_async())
        self.run(app.schema_manager.apply_schema_async())

    def close(self) -> None:
        self.run(app.connector.close_async())
        super().close()

    def async_sender(self, task: str) -> SendAsync:
        defer = TASKS[task].defer_async
        return lambda kwargs: defer(**kwargs)

    def async_bulk_sender(self, task: str) -> SendManyAsync:
        batch_defer = TASKS[task].batch_defer_async
        return lambda batch: batch_defer(*batch)

    def worker_commands(self, processes: int, concurrency: int) -> list[list[str]]:
        command = python_module(
            "procrastinate", f"--app={__name__}.app", "worker", "--concurrency", str(concurrency)
        )
        return [command for _ in range(processes)]

    def fill_history(self, count: int) -> None:
        import psycopg

        with psycopg.connect(URL, autocommit=True) as conn:
            columns = [
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "'public' AND table_name = 'procrastinate_jobs' AND column_name <> 'id' "
                    "ORDER BY ordinal_position"
                )
            ]
            names = ", ".join(f'"{c}"' for c in columns)
            conn.execute(
                f"INSERT INTO procrastinate_jobs ({names}) SELECT {names} "
                "FROM generate_series(1, %s) AS i, (SELECT * FROM procrastinate_jobs "
                "WHERE status = 'succeeded' LIMIT 1) AS t",
                (count,),
            )
            conn.execute("VACUUM ANALYZE procrastinate_jobs")

    def claim_and_finish(self, count: int) -> float:
        return self.run(self._claim_and_finish(count))

    async def _claim_and_finish(self, count: int) -> float:
        manager = app.job_manager
        worker_id = await manager.register_worker()
        start = time.perf_counter()
        for _ in range(count):
            job = await manager.fetch_job(queues=None, worker_id=worker_id)
            if job is None:
                raise RuntimeError("no job left to claim")
            await manager.finish_job(job, status=jobs.Status.SUCCEEDED, delete_job=False)
        elapsed = time.perf_counter() - start
        await manager.unregister_worker(worker_id)
        return elapsed
