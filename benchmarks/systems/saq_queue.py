"""SAQ on Redis, run by `saq ... --workers N`. Its functions are coroutines, ctx first."""

from __future__ import annotations

import os
from typing import Any

from saq import Queue

from .. import tasks
from ..base import RedisSystem, SendAsync, python_module

DEFAULT_CONCURRENCY = 10
queue = Queue.from_url(os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14"))


async def noop(ctx: dict[str, Any], *, t: float = 0.0) -> None:
    tasks.noop(t)


async def sleep(ctx: dict[str, Any], *, t: float = 0.0) -> None:
    await tasks.sleep_async(t)


async def progress(ctx: dict[str, Any], *, n: int, r: int) -> None:
    """Progress is the job's own `progress` field; results ride in its meta."""
    job = ctx["job"]
    results: list[dict[str, Any]] = []

    async def update(i: int) -> None:
        await job.update(progress=i / n)

    async def add_result(result: dict[str, Any]) -> None:
        results.append(result)
        await job.update(meta={"results": results})

    await tasks.progress_async(update, add_result, n, r)


settings = {
    "queue": queue,
    "functions": [noop, sleep, progress],
    "concurrency": int(os.environ.get("BENCH_CONCURRENCY", DEFAULT_CONCURRENCY)),
}


class Saq(RedisSystem):
    label = "SAQ (Redis)"
    asynchronous = True

    def async_sender(self, task: str) -> SendAsync:
        enqueue = queue.enqueue
        return lambda kwargs: enqueue(task, kwargs=kwargs)

    def close(self) -> None:
        self.run(queue.disconnect())
        super().close()

    def worker_env(self, concurrency: int) -> dict[str, str]:
        return {"BENCH_CONCURRENCY": str(concurrency)}

    def worker_commands(self, processes: int, concurrency: int) -> list[list[str]]:
        return [python_module("saq", f"{__name__}.settings", "--workers", str(processes))]
