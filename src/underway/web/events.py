"""Server-Sent Events: a job's status document as it changes, and live dashboard fragments.

Each stream polls the store cheaply on the server (one read per interval, whoever watches) and
sends only what changed, with a keep-alive comment while nothing does, so that proxies and
browsers keep the connection open.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from .. import codec
from ..model import Status
from .access import Reader, visible_document
from .api import ERRORS
from .auth import Principal
from .context import context
from .documents import to_json

RECONNECT_MS = 3000
PAGE_INTERVAL = 1.0
KEEP_ALIVE = ": keep-alive\n\n"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

router = APIRouter(
    prefix="/api",
    tags=["jobs"],
    responses={401: ERRORS[401], 403: ERRORS[403], 429: ERRORS[429]},
)


def message(data: str, event: str | None = None) -> str:
    """One SSE message; a multi-line payload becomes one `data:` line per line."""
    head = f"event: {event}\n" if event else ""
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


def stream(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


async def job_changes(request: Request, principal: Principal, job_id: str) -> AsyncIterator[str]:
    """The document now, then once per change; after a finished one, an `event: end` naming the
    status closes the stream (an EventSource closes on it, rather than reconnecting to a job
    that will not change again); `event: gone` when the job is deleted meanwhile."""
    web = context(request)
    yield f"retry: {RECONNECT_MS}\n\n"
    last, quiet_since = None, time.monotonic()
    while True:
        document: dict[str, Any] | None = await to_thread.run_sync(web.app.get, job_id)
        if document is None or not principal.may_see(document["owner"], job_id):
            yield message(codec.dumps({"job_id": job_id}), event="gone")
            return
        text = to_json(document)
        if text != last:
            yield message(text)
            last, quiet_since = text, time.monotonic()
            if Status(document["status"]).finished:
                end = {"job_id": job_id, "status": document["status"]}
                yield message(codec.dumps(end), event="end")
                return
        elif time.monotonic() - quiet_since >= web.keepalive_interval:
            yield KEEP_ALIVE
            quiet_since = time.monotonic()
        await asyncio.sleep(web.poll_interval)


async def page_changes(request: Request, render: Callable[[], str]) -> AsyncIterator[str]:
    """A dashboard fragment whenever its rendering changes; runs until the client leaves."""
    web = context(request)
    yield f"retry: {RECONNECT_MS}\n\n"
    last, quiet_since = None, time.monotonic()
    while True:
        html = await to_thread.run_sync(render)
        if html != last:
            yield message(html)
            last, quiet_since = html, time.monotonic()
        elif time.monotonic() - quiet_since >= web.keepalive_interval:
            yield KEEP_ALIVE
            quiet_since = time.monotonic()
        await asyncio.sleep(max(PAGE_INTERVAL, web.poll_interval))


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "text/event-stream: one `data:` line with the status document per "
            "change; after the finished document, `event: end` with the job id and status, and "
            "the stream closes (`event: gone` if the job is deleted)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        404: ERRORS[404],
    },
    summary="Follow a job by Server-Sent Events",
)
async def job_events(job_id: str, request: Request, principal: Reader) -> StreamingResponse:
    await to_thread.run_sync(visible_document, request, principal, job_id)
    return stream(job_changes(request, principal, job_id))
