"""Celery with a Redis broker and a Redis result backend, default settings.

Celery cannot run `async def` tasks: the 10 ms sleep holds a pool slot (a thread here).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from .. import tasks
from ..base import RedisSystem, Send, script

URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")
app = Celery("bench", broker=URL, backend=URL)


@app.task(name="noop")
def noop(t: float = 0.0) -> None:
    tasks.noop(t)


@app.task(name="sleep")
def sleep(t: float = 0.0) -> None:
    tasks.sleep(t)


@app.task(name="progress", bind=True)
def progress(self: Any, n: int, r: int) -> None:
    """Progress is the task's state in the result backend; results ride in its meta."""
    results: list[dict[str, Any]] = []

    def update(i: int) -> None:
        self.update_state(state="PROGRESS", meta={"processed": i, "total": n})

    def add_result(result: dict[str, Any]) -> None:
        results.append(result)
        self.update_state(state="PROGRESS", meta={"processed": n, "results": results})

    tasks.progress(update, add_result, n, r)


class CeleryRunner(RedisSystem):
    label = "Celery (Redis)"

    def sender(self, task: str) -> Send:
        apply = app.tasks[task].apply_async
        return lambda kwargs: apply(kwargs=kwargs)

    def worker_commands(self, processes: int, concurrency: int) -> list[list[str]]:
        base = [script("celery"), "-A", __name__, "worker"]
        if concurrency == 1:
            # The default prefork pool: a child process per slot.
            return [[*base, "--concurrency", str(processes), "-n", "bench@%h"]]
        return [
            [*base, "--pool", "threads", "--concurrency", str(concurrency), "-n", f"bench{i}@%h"]
            for i in range(processes)
        ]
