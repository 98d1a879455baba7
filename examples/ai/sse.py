"""Streamed answers: server-sent events whose ``data:`` lines carry one JSON object each.

Gemini (``streamGenerateContent?alt=sse``) and OpenAI-compatible servers (``"stream": true``)
both stream this way; OpenAI ends with ``data: [DONE]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from .transport import JsonTransport, error_message, snippet

DONE = "[DONE]"


def data_events(lines: Iterable[str]) -> Iterator[str]:
    """Each event's data: its ``data:`` lines joined by new lines, as the SSE rules say.
    Comments, ``event:``/``id:``/``retry:`` fields and events without data are skipped; the
    last event counts even when the server closed without the blank line that should end it."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
            data = []
        elif line == "data" or line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def json_events(
    transport: JsonTransport, response: httpx.Response, attempts: int
) -> Iterator[dict[str, Any]]:
    """The JSON objects of a streamed answer, up to ``[DONE]`` or its end; closes the response.
    A server that ignores the request to stream and answers with one JSON body gives that one
    object. Raises ProviderError for an error event, a broken connection or bad JSON."""
    try:
        if "text/event-stream" not in response.headers.get("content-type", ""):
            yield transport.decode_success(_read(transport, response, attempts), attempts)
            return
        events = data_events(response.iter_lines())
        while (data := _next(transport, events, attempts)) is not None:
            if data.strip() == DONE:
                return
            yield _decode(transport, data, attempts)
    finally:
        response.close()


def _read(transport: JsonTransport, response: httpx.Response, attempts: int) -> httpx.Response:
    problem = ""
    try:
        response.read()
    except httpx.TransportError as exc:
        problem = broken_off(transport, exc)
    if problem:  # raised here so that no httpx traceback is chained to it
        transport.fail(problem, attempts=attempts)
    return response


def _next(transport: JsonTransport, events: Iterator[str], attempts: int) -> str | None:
    """The next event's data; None at the end of the stream."""
    problem = ""
    try:
        return next(events, None)
    except httpx.TransportError as exc:
        problem = broken_off(transport, exc)
    transport.fail(problem, attempts=attempts)


def _decode(transport: JsonTransport, data: str, attempts: int) -> dict[str, Any]:
    label = transport.service.label
    try:
        chunk = json.loads(data)
    except ValueError:
        chunk = None
    if not isinstance(chunk, dict):
        transport.fail(
            f"{label} streamed an event that is not a JSON object: {snippet(data)!r}",
            status=200,
            attempts=attempts,
        )
    if "error" in chunk:  # servers report a failure after the 200 as an event
        said = error_message(chunk) or snippet(data)
        transport.fail(
            f"{label} failed in the middle of its answer; the server said: {said}",
            server_message=said,
            attempts=attempts,
        )
    return chunk


def broken_off(transport: JsonTransport, exc: httpx.TransportError) -> str:
    """What went wrong when an answer stopped coming; nothing is retried by then."""
    label = transport.service.label
    if isinstance(exc, httpx.ReadTimeout):
        return (
            f"{label} wrote nothing for {transport.timeouts.read:g} s in the middle of its "
            "answer (read time-out); raise the read time-out or ask for fewer tokens"
        )
    return f"the connection to {label} broke in the middle of its answer: {type(exc).__name__}"
