"""RQ: `rq worker-pool`, each worker forking a work horse per job (the default Worker)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from redis import Redis
from rq import Queue, get_current_job

from .. import tasks
from ..base import RedisSystem, Send, SendMany, script
from ..resources import NotAvailable

URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")
queue = Queue("default", connection=Redis.from_url(URL))


def noop(t: float = 0.0) -> None:
    tasks.noop(t)


def sleep(t: float = 0.0) -> None:
    tasks.sleep(t)


def progress(n: int, r: int) -> None:
    """Progress and results live in job.meta, saved on every call (save_meta)."""
    job = get_current_job()
    assert job is not None

    def update(i: int) -> None:
        job.meta["processed"] = i
        job.save_meta()

    def add_result(result: dict[str, Any]) -> None:
        job.meta.setdefault("results", []).append(result)
        job.save_meta()

    tasks.progress(update, add_result, n, r)


FUNCTIONS: dict[str, Callable[..., None]] = {"noop": noop, "sleep": sleep, "progress": progress}


class RQ(RedisSystem):
    label = "RQ"

    def sender(self, task: str) -> Send:
        fn, enqueue = FUNCTIONS[task], queue.enqueue_call
        return lambda kwargs: enqueue(func=fn, kwargs=kwargs)

    def bulk_sender(self, task: str) -> SendMany:
        fn, prepare = FUNCTIONS[task], Queue.prepare_data
        return lambda batch: queue.enqueue_many([prepare(fn, kwargs=k) for k in batch])

    def worker_commands(self, processes: int, concurrency: int) -> list[list[str]]:
        if concurrency != 1:
            raise NotAvailable("RQ runs one job at a time per worker process")
        return [[script("rq"), "worker-pool", "--url", self.res.redis_url, "-n", str(processes)]]
