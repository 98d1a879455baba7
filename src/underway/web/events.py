"""Server-Sent Events: a job as it changes, and live dashboard fragments.

A job's stream is fed by the hub's one shared watcher of that job (hub.py) and resumes from its
client's last event id (cursors.py); dashboard fragments are re-rendered once a second. Both send
a keep-alive comment while nothing changes, so that proxies and browsers keep the connection
open.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Query, Request
from starlette.responses import StreamingResponse

from .. import codec
from .access import Reader, visible_document
from .api import ERRORS
from .auth import Principal
from .context import context
from .cursors import Cursor, Held, message
from .hub import Followed

RECONNECT_MS = 3000
PAGE_INTERVAL = 1.0
KEEP_ALIVE = ": keep-alive\n\n"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

router = APIRouter(
    prefix="/api",
    tags=["jobs"],
    responses={401: ERRORS[401], 403: ERRORS[403], 429: ERRORS[429]},
)


def stream(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


async def job_changes(
    request: Request, principal: Principal, job_id: str, cursor: Cursor | None
) -> AsyncIterator[str]:
    """The job's stream, from the hub's shared watcher of that job."""
    web = context(request)
    yield f"retry: {RECONNECT_MS}\n\n"
    async with web.hub.follow(job_id) as state:
        if state.gone or not principal.may_see(state.head["owner"], job_id):
            yield gone(job_id)
            return
        if cursor is not None and not cursor.within(state):
            cursor = None  # ahead of the job: it cannot be this job's, start over
        async for text in job_messages(state, Held(state, cursor), web.keepalive_interval):
            yield text


async def job_messages(state: Followed, held: Held, keepalive: float) -> AsyncIterator[str]:
    """A fresh stream starts with the whole document; a resumed one with a change carrying what
    its client misses. Then a change (and output) whenever the job changes; at the end the whole
    finished document and `event: end`."""
    seen = -1  # a resumed stream sends what it misses at once
    if held.fresh and not state.finished:
        yield held.whole()
        seen = state.version - 1  # then the output, if any
    while True:
        waiter = state.changed
        if state.gone:
            yield gone(state.job_id)
            return
        if state.finished:
            for text in held.output_texts():
                yield text
            yield held.whole()
            end = {"job_id": state.job_id, "status": state.head["status"]}
            yield message(codec.dumps(end), event="end")
            return
        if state.version != seen:
            seen = state.version
            for text in held.catch_up():
                yield text
            continue
        try:
            async with asyncio.timeout(keepalive):  # a timer, not a task per wait (wait_for)
                await waiter.wait()
        except TimeoutError:
            yield KEEP_ALIVE


def gone(job_id: str) -> str:
    return message(codec.dumps({"job_id": job_id}), event="gone")


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
            "description": "text/event-stream, each message with an id (R.E.O: results, "
            "errors and characters of output the client then holds). First the whole status "
            "document; then `event: output` ({offset, text}) and `event: change` (the fields "
            "that changed, new_results, new_errors); at the end the whole finished document "
            "and `event: end` ({job_id, status}), and the stream closes (`event: gone` if the "
            "job is deleted). Reconnecting with Last-Event-ID (or ?last_event_id=) sends only "
            "what the client lacks.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        400: {"model": ERRORS[400]["model"], "description": "Last-Event-ID is not an event id"},
        404: ERRORS[404],
    },
    summary="Follow a job by Server-Sent Events",
)
async def job_events(
    job_id: str,
    request: Request,
    principal: Reader,
    last_event_id: Annotated[
        str | None,
        Query(description="resume after this event id (R.E.O); the Last-Event-ID header wins"),
    ] = None,
) -> StreamingResponse:
    text = request.headers.get("last-event-id") or last_event_id
    try:
        cursor = None if text is None else Cursor.parse(text)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    await to_thread.run_sync(visible_document, request, principal, job_id)
    return stream(job_changes(request, principal, job_id, cursor))
