"""One attempt of a task for a job, and the Outcome it becomes.

Eager mode (app.py) and the worker's children (worker/process.py) both run attempts through
here, and both turn how an attempt ended into the Outcome a store writes with `to_outcome`, so
"what counts as a failure, a retry or a result" is decided in one place. This module is core:
it never imports the worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import traceback as tb
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import codec
from .job import Job
from .model import Lease, Outcome, ProgressWrite, Status
from .states import after_error
from .tasks import Task

# Runs a plain (def) task's call off the event loop and awaits its value: the worker passes
# its batched task threads here.
RunInThread = Callable[[Callable[[], Any]], Awaitable[Any]]


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
    return AttemptResult("error", error=error, traceback=_task_traceback(exc))


def _task_traceback(exc: BaseException) -> str:
    """The traceback from the task's own first frame: the frames of underway that called it
    say nothing about the failure. Kept whole when the error arose in underway itself."""
    frames = exc.__traceback__
    while frames is not None and _is_ours(frames.tb_frame.f_globals.get("__name__")):
        frames = frames.tb_next
    if frames is None:
        frames = exc.__traceback__
    return "".join(tb.format_exception(type(exc), exc, frames))


def _is_ours(module: object) -> bool:
    return isinstance(module, str) and (module == "underway" or module.startswith("underway."))


def _call_args(task: Task, job: Job) -> tuple[Any, ...]:
    return (job,) if task.takes_job else ()


async def run_async(
    task: Task,
    job: Job,
    args: dict[str, Any],
    timeout: float | None,
    run_in_thread: RunInThread,
) -> AttemptResult:
    """Run on an event loop: async tasks on the loop, plain ones through run_in_thread. A plain
    task past its time-out cannot be stopped from here; whoever owns the process kills it."""
    deadline = asyncio.timeout(timeout)
    try:
        if task.is_async:
            async with deadline:
                value = await task.fn(*_call_args(task, job), **args)
        else:
            context = contextvars.copy_context()
            value = await run_in_thread(
                lambda: context.run(task.fn, *_call_args(task, job), **args)
            )
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


def to_outcome(
    lease: Lease,
    attempt: AttemptResult,
    *,
    max_attempts: int,
    backoff: float,
    now: float,
    progress: ProgressWrite | None,
) -> Outcome:
    """How the attempt's job moves on: completed, cancelled, failed, or pending for a retry
    after backoff when tries are left and the error allows one."""
    retry_at = None
    if attempt.kind == "completed":
        status = Status.COMPLETED
    elif attempt.kind == "cancelled":
        status = Status.CANCELLED
    else:
        status, retry_at = after_error(lease.attempt, max_attempts, backoff, now, attempt.retryable)
    return Outcome(
        lease,
        status,
        now,
        result=attempt.result,
        error=attempt.error,
        traceback=attempt.traceback,
        retry_at=retry_at,
        progress=progress,
    )
