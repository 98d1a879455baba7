"""The awaitable forms of Underway's calls, for async web handlers and scripts.

Store calls block (a SQLite write may wait on another writer's lock for seconds), so each runs
in a thread of the loop's default executor: the event loop never waits on the database. Same
arguments, errors and semantics as the plain calls, eager mode included. Underway takes these
functions as its methods (app.dispatch_async, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .errors import JobNotFound
from .model import FINISHED, Status

if TYPE_CHECKING:
    from .app import Underway
    from .tasks import Task

WATCH_POLL_SECONDS = 0.25


async def dispatch_async(
    app: Underway, task_or_name: Task | str, kwargs: dict[str, Any] | None = None, **options: Any
) -> str:
    """dispatch(), without blocking the event loop."""
    return await asyncio.to_thread(app.dispatch, task_or_name, kwargs, **options)


async def get_async(app: Underway, job_id: str) -> dict[str, Any] | None:
    """get(), without blocking the event loop."""
    return await asyncio.to_thread(app.get, job_id)


async def wait_async(app: Underway, job_id: str, timeout: float | None = None) -> dict[str, Any]:
    """wait(), without blocking the event loop: the document once the job has ended."""
    status = "pending"
    try:
        async with asyncio.timeout(timeout):
            async for document in watch(app, job_id):
                status = document["status"]
                if Status(status) in FINISHED:
                    return document
    except TimeoutError:
        raise TimeoutError(f"job {job_id} still {status} after {timeout} s") from None
    raise AssertionError("watch() ends only after a finished status")  # pragma: no cover


async def watch(
    app: Underway, job_id: str, interval: float = WATCH_POLL_SECONDS
) -> AsyncIterator[dict[str, Any]]:
    """Yield the job's status document now and again each time it changes; end after the
    document of a finished status. Raises JobNotFound."""
    last: dict[str, Any] | None = None
    delay = min(interval, 0.005)
    while True:
        document = await get_async(app, job_id)
        if document is None:
            raise JobNotFound(f"no job with id {job_id}")
        if document != last:
            yield document
            last, delay = document, min(interval, 0.005)
            if Status(document["status"]) in FINISHED:
                return
        await asyncio.sleep(delay)
        delay = min(interval, delay * 2)
