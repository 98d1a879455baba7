"""Huey on Redis (RedisHuey) and on SQLite (SqliteHuey), run by `huey_consumer`.

Huey cannot run `async def` tasks: the 10 ms sleep holds a worker thread.
"""

from __future__ import annotations

import os

from huey import Huey, RedisHuey, SqliteHuey

from .. import tasks
from ..base import RedisSystem, Send, System, script

huey: Huey
if os.environ.get("BENCH_BACKEND") == "sqlite":
    huey = SqliteHuey("bench", filename=os.environ.get("BENCH_SQLITE", "huey-bench.db"))
else:
    huey = RedisHuey("bench", url=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14"))


@huey.task(name="noop")
def noop(t: float = 0.0) -> None:
    tasks.noop(t)


@huey.task(name="sleep")
def sleep(t: float = 0.0) -> None:
    tasks.sleep(t)


TASKS = {"noop": noop, "sleep": sleep}


class HueyBase(System):
    def sender(self, task: str) -> Send:
        fn = TASKS[task]
        return lambda kwargs: fn(**kwargs)

    def worker_commands(self, processes: int, concurrency: int) -> list[list[str]]:
        consumer = [script("huey_consumer"), f"{__name__}.huey", "-k", "thread"]
        return [[*consumer, "-w", str(concurrency)] for _ in range(processes)]


class HueyRedis(HueyBase, RedisSystem):
    label = "Huey (Redis)"


class HueySqlite(HueyBase):
    label = "Huey (SQLite)"
