"""The bodies of the benchmark tasks, shared by every system's task definitions.

Each system wraps these in its own decorator and calling convention; the work itself, and what
it reports to the probe, is the same everywhere. `t` is the monotonic time at which the run
dispatched the job (0.0 when nobody measures pickup latency).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .config import SLEEP_SECONDS
from .probe import record

RESULT = {"item": 0, "success": True, "message": "ok"}


def noop(t: float = 0.0) -> None:
    start = time.monotonic()
    record("run", t, start, time.monotonic())


def sleep(t: float = 0.0) -> None:
    """For systems that cannot run `async def` tasks: the sleep holds a thread or process."""
    start = time.monotonic()
    time.sleep(SLEEP_SECONDS)
    record("run", t, start, time.monotonic())


async def sleep_async(t: float = 0.0) -> None:
    start = time.monotonic()
    await asyncio.sleep(SLEEP_SECONDS)
    record("run", t, start, time.monotonic())


def progress(
    update: Callable[[int], Any], add_result: Callable[[dict[str, Any]], Any], n: int, r: int
) -> None:
    """n progress updates, then r results; reports microseconds per call of each kind."""
    start = time.monotonic()
    t0 = time.perf_counter()
    for i in range(n):
        update(i)
    t1 = time.perf_counter()
    for i in range(r):
        add_result({**RESULT, "item": i})
    t2 = time.perf_counter()
    record("progress", (t1 - t0) / n * 1e6, (t2 - t1) / r * 1e6, start, time.monotonic())


async def progress_async(
    update: Callable[[int], Awaitable[Any]],
    add_result: Callable[[dict[str, Any]], Awaitable[Any]],
    n: int,
    r: int,
) -> None:
    start = time.monotonic()
    t0 = time.perf_counter()
    for i in range(n):
        await update(i)
    t1 = time.perf_counter()
    for i in range(r):
        await add_result({**RESULT, "item": i})
    t2 = time.perf_counter()
    record("progress", (t1 - t0) / n * 1e6, (t2 - t1) / r * 1e6, start, time.monotonic())
