"""The runner interface: what a workload asks of a queue system.

A System drives one queue in its usual production configuration for one run, on the fresh
state that Resources describes. Subclasses implement what their queue can do; anything it
cannot do raises NotAvailable with the reason, which the report prints instead of a number.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .procs import Processes
from .resources import NotAvailable, RedisWrites, Resources

T = TypeVar("T")
Kwargs = dict[str, Any]
Send = Callable[[Kwargs], object]
SendAsync = Callable[[Kwargs], Awaitable[object]]
SendMany = Callable[[list[Kwargs]], object]
SendManyAsync = Callable[[list[Kwargs]], Awaitable[object]]
Make = Callable[[int], Kwargs]
ReadProgress = Callable[[], list[tuple[str, str | None]]]

TASKS = ("noop", "sleep", "progress")


def unstamped(_: int) -> Kwargs:
    return {"t": 0.0}


def stamped(_: int) -> Kwargs:
    """Arguments carrying the moment of dispatch, for pickup latency."""
    return {"t": time.monotonic()}


def script(name: str) -> str:
    """A console script of this virtual environment (celery, rq, dramatiq, ...)."""
    return str(Path(sys.executable).parent / name)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


class System:
    label: ClassVar[str] = "?"
    server_note = ""
    asynchronous: ClassVar[bool] = False  # its client API is coroutines (SAQ, procrastinate)

    def __init__(self, res: Resources) -> None:
        self.res = res
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def setup(self) -> None:
        """Create schemas or tables; the database, file or Redis DB is fresh already."""

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on this system's own event loop (clients keep connections on it)."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coroutine)

    # -- dispatch ------------------------------------------------------------------------------

    def sender(self, task: str) -> Send:
        """A function that queues one job of `task` with these keyword arguments."""
        raise NotImplementedError

    def async_sender(self, task: str) -> SendAsync:
        raise NotImplementedError

    def bulk_sender(self, task: str) -> SendMany:
        raise NotAvailable(f"{self.label} has no bulk dispatch API")

    def async_bulk_sender(self, task: str) -> SendManyAsync:
        raise NotAvailable(f"{self.label} has no bulk dispatch API")

    def dispatch_each(
        self, task: str, count: int, make: Make = unstamped, gap: float = 0.0
    ) -> float:
        """Queue `count` jobs one call at a time, `gap` seconds apart; seconds it took."""
        if self.asynchronous:
            return self.run(self._dispatch_each_async(task, count, make, gap))
        send = self.sender(task)
        start = time.perf_counter()
        due = time.monotonic()
        for i in range(count):
            if gap:
                due += gap
                time.sleep(max(0.0, due - time.monotonic()))
            send(make(i))
        return time.perf_counter() - start

    async def _dispatch_each_async(self, task: str, count: int, make: Make, gap: float) -> float:
        send = self.async_sender(task)
        start = time.perf_counter()
        due = time.monotonic()
        for i in range(count):
            if gap:
                due += gap
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            await send(make(i))
        return time.perf_counter() - start

    def dispatch_bulk(self, task: str, count: int, chunk: int, make: Make = unstamped) -> float:
        """Queue `count` jobs through the bulk API, `chunk` per call; seconds it took."""
        batches = [
            [make(i) for i in range(s, min(s + chunk, count))] for s in range(0, count, chunk)
        ]
        if self.asynchronous:
            return self.run(self._dispatch_bulk_async(task, batches))
        send = self.bulk_sender(task)
        start = time.perf_counter()
        for batch in batches:
            send(batch)
        return time.perf_counter() - start

    async def _dispatch_bulk_async(self, task: str, batches: list[list[Kwargs]]) -> float:
        send = self.async_bulk_sender(task)
        start = time.perf_counter()
        for batch in batches:
            await send(batch)
        return time.perf_counter() - start

    def enqueue(self, task: str, count: int, chunk: int = 1000) -> None:
        """Queue jobs as fast as the system allows (bulk when it has it); untimed set-up."""
        try:
            self.dispatch_bulk(task, count, chunk)
        except NotAvailable:
            self.dispatch_each(task, count)

    # -- workers -------------------------------------------------------------------------------

    def worker_commands(self, processes: int, concurrency: int) -> list[list[str]]:
        """Commands whose processes together run jobs in `processes` OS processes with
        `concurrency` jobs at a time in each."""
        raise NotImplementedError

    def worker_env(self, concurrency: int) -> dict[str, str]:
        return {}

    def workers(self, processes: int, concurrency: int) -> Processes:
        env = {**os.environ, **self.worker_env(concurrency)}
        commands = self.worker_commands(processes, concurrency)
        return Processes("worker", self.res.logs).start(commands, env)

    # -- W4: database writes -------------------------------------------------------------------

    def write_counter(self) -> Callable[[], int]:
        """A function returning how many writes the store has taken so far."""
        raise NotAvailable(f"{self.label}: no way to count its writes")

    # -- W5: the HTTP status API ---------------------------------------------------------------

    def server_command(self, port: int) -> list[str]:
        raise NotAvailable(f"{self.label} has no HTTP API for job status")

    def job_ids(self, count: int) -> list[str]:
        """Ids of up to `count` queued jobs, to ask the HTTP API about."""
        raise NotAvailable(f"{self.label} has no HTTP API for job status")

    # -- W7: job event streams ----------------------------------------------------------------

    def stream_worker_commands(
        self, processes: int, concurrency: int, progress_interval: float
    ) -> list[list[str]]:
        """Workers that write progress at most every `progress_interval` seconds."""
        raise NotAvailable(f"{self.label} has no job event stream")

    def stream_poll_interval(self) -> float | None:
        """Seconds between the server's store reads for event streams, if it says."""
        return None

    def cancel(self, job_ids: list[str]) -> None:
        """Ask for these jobs to be cancelled (W7's jobs would otherwise run on)."""
        raise NotAvailable(f"{self.label}: no cancel API")

    def progress_reader(self) -> AbstractContextManager[ReadProgress]:
        """A function reading (job id, progress current) of every job straight from the store,
        on a connection of its own while the context lasts."""
        raise NotAvailable(f"{self.label}: no progress to read")

    # -- W6: claim and finish against a long history -------------------------------------------

    def fill_history(self, count: int) -> None:
        """Add `count` finished jobs, as a long-running installation would have."""
        raise NotAvailable(f"{self.label} keeps no history of finished jobs in its queue")

    def claim_and_finish(self, count: int) -> float:
        """Claim and complete `count` queued jobs one at a time, as a worker does; seconds."""
        raise NotAvailable(f"{self.label}: no claim-and-finish API to time")


class RedisSystem(System):
    """A queue kept in Redis: its writes are the write commands the server executes."""

    def write_counter(self) -> Callable[[], int]:
        return RedisWrites(self.res.redis_db).count
