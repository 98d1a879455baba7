"""Dramatiq with RedisBroker and its default middleware, plus AsyncIO for `async def` actors."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.asyncio import AsyncIO

from .. import tasks
from ..base import RedisSystem, Send, script

broker = RedisBroker(url=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14"))
broker.add_middleware(AsyncIO())
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="noop")
def noop(t: float = 0.0) -> None:
    tasks.noop(t)


@dramatiq.actor(actor_name="sleep")
async def sleep(t: float = 0.0) -> None:
    await tasks.sleep_async(t)


ACTORS = {"noop": noop, "sleep": sleep}


class Dramatiq(RedisSystem):
    label = "Dramatiq (Redis)"

    def sender(self, task: str) -> Send:
        send = ACTORS[task].send_with_options
        return lambda kwargs: send(kwargs=kwargs)

    def worker_commands(self, processes: int, concurrency: int) -> list[list[str]]:
        return [
            [
                script("dramatiq"),
                __name__,
                "--processes",
                str(processes),
                "--threads",
                str(concurrency),
            ]
        ]
