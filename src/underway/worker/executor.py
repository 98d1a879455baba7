"""Runs one attempt of a job and says how it ended: completed, error, or cancelled."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import traceback as tb
from dataclasses import dataclass
from typing import Any

from .. import codec
from ..job import Job
from ..tasks import Task
from .threads import TaskThreads


@dataclass(frozen=True, slots=True)
class AttemptResult:
    kind: str  # "completed", "error" or "cancelled"
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    retryable: bool = True


def unknown_task(name: str) -> AttemptResult:
    return AttemptResult(
        "error",
        error=f"UnknownTask: no task named {name!r} is registered in this worker's app",
        retryable=False,
    )


def timed_out(seconds: float) -> AttemptResult:
    return AttemptResult("error", error=f"TimeoutError: timed out after {seconds:g} s")


def _completed(value: Any) -> AttemptResult:
    try:
        codec.dumps(value)
    except (TypeError, ValueError) as exc:
        return AttemptResult(
            "error",
            error=f"TypeError: the task's return value is not JSON ({exc})",
            retryable=False,
        )
    return AttemptResult("completed", result=value)


def _failed(exc: BaseException) -> AttemptResult:
    message = str(exc)
    error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return AttemptResult("error", error=error, traceback="".join(tb.format_exception(exc)))


def _call_args(task: Task, job: Job) -> tuple[Any, ...]:
    return (job,) if task.takes_job else ()


async def run_attempt(
    task: Task,
    job: Job,
    args: dict[str, Any],
    timeout: float | None,
    threads: TaskThreads,
) -> AttemptResult:
    """Run in a worker process: async tasks on the loop, plain ones in a thread. A plain task
    past its time-out cannot be stopped from here; the supervisor kills the process."""
    deadline = asyncio.timeout(timeout)
    try:
        if task.is_async:
            async with deadline:
                value = await task.fn(*_call_args(task, job), **args)
        else:
            context = contextvars.copy_context()
            value = await threads.run(lambda: context.run(task.fn, *_call_args(task, job), **args))
    except asyncio.CancelledError:
        if job.cancelled:
            return AttemptResult("cancelled")
        raise
    except Exception as exc:
        if isinstance(exc, TimeoutError) and deadline.expired():
            return timed_out(timeout or 0)
        return _failed(exc)
    return _completed(value)


def run_inline(task: Task, job: Job, args: dict[str, Any]) -> AttemptResult:
    """Run in the caller's thread (eager mode). An async task gets a loop of its own, in a
    thread when the caller already runs one."""
    try:
        if not task.is_async:
            return _completed(task.fn(*_call_args(task, job), **args))
        coroutine = task.fn(*_call_args(task, job), **args)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _completed(asyncio.run(coroutine))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return _completed(pool.submit(asyncio.run, coroutine).result())
    except Exception as exc:
        return _failed(exc)
