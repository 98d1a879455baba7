"""W7's watchers: many Server-Sent Events streams in one process, on raw asyncio protocols.

A watcher costs the client one data_received call and one json.loads per event, so that a
thousand of them on the same two cores as the server measure the server rather than themselves.
Each stream remembers the newest `progress.current` it saw (the task's time.time() when it made
that step); an event that brings a newer one inside the measured window gives one delay: arrival
minus that stamp. Works with whole documents as default `message` events and with
`event: change` carrying only the changed fields alike.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

OPEN_SECONDS = 60.0  # for every stream of one batch to show its first document


@dataclass
class Tally:
    """What every stream of a Watchers adds to."""

    start: float = math.inf  # the measured window, wall clock
    end: float = math.inf
    delays: list[float] = field(default_factory=list)  # seconds, inside the window
    events: Counter[str] = field(default_factory=Counter)  # by SSE event name, all the time
    ready: int = 0  # streams that showed their first document
    lost: list[str] = field(default_factory=list)  # why each stream that closed did

    def measure(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.delays = []


class Stream(asyncio.Protocol):
    """One GET of an event stream: HTTP/1.1 head, chunked body, SSE events."""

    def __init__(self, request: bytes, tally: Tally) -> None:
        self.request = request
        self.tally = tally
        self.transport: asyncio.Transport | None = None
        self.head = b""  # until the blank line ends the response head
        self.chunked: bool | None = None  # None: head not read yet
        self.raw = b""  # body bytes not yet de-chunked
        self.left = 0  # bytes left of the current chunk
        self.crlf = False  # a chunk's trailing CRLF comes next
        self.text = b""  # de-chunked bytes not yet split into events
        self.stamp: str | None = None
        self.shown = False
        self.closed_why = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if self.chunked is None:
            data = self._read_head(data)
            if self.chunked is None:
                return
        body = self._dechunk(data) if self.chunked else data
        events = (self.text + body).split(b"\n\n")
        self.text = events.pop()
        for event in events:
            self._event(event, now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed_why:
            self.lose(f"connection closed ({exc or 'by the server'})")

    def lose(self, why: str) -> None:
        if not self.closed_why:
            self.closed_why = why
            self.tally.lost.append(why)
        if self.transport is not None:
            self.transport.close()

    def _read_head(self, data: bytes) -> bytes:
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            return b""
        head, rest = self.head[:end], self.head[end + 4 :]
        status = head[9:12]
        if status != b"200":
            self.lose(f"answered {status.decode(errors='replace')}: {rest[:200]!r}")
            return b""
        self.chunked = b"transfer-encoding: chunked" in head.lower()
        return rest

    def _dechunk(self, data: bytes) -> bytes:
        raw, out = self.raw + data, []
        while raw:
            if self.left:
                piece = raw[: self.left]
                out.append(piece)
                raw = raw[len(piece) :]
                self.left -= len(piece)
                self.crlf = not self.left
            elif self.crlf:
                if len(raw) < 2:
                    break
                raw, self.crlf = raw[2:], False
            else:
                end = raw.find(b"\r\n")
                if end < 0:
                    break
                self.left = int(raw[:end].split(b";")[0], 16)
                raw = raw[end + 2 :]
                if not self.left:  # the last chunk: the server ended the response
                    self.lose("the response ended")
                    break
        self.raw = raw
        return b"".join(out)

    def _event(self, block: bytes, now: float) -> None:
        name, data = "message", []
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
            elif line.startswith(b"event:"):
                name = line[6:].strip().decode()
        if not data:
            self.tally.events["comment" if block.startswith(b":") else "other"] += 1
            return
        self.tally.events[name] += 1
        if name in ("message", "change"):
            self._document(json.loads(b"\n".join(data)), now)
        elif name in ("end", "gone"):
            self.lose(f"event: {name}")

    def _document(self, fields: dict[str, Any], now: float) -> None:
        if not self.shown:
            self.shown = True
            self.tally.ready += 1
        progress = fields.get("progress")
        stamp = progress.get("current") if isinstance(progress, dict) else None
        if stamp is None or stamp == self.stamp:
            return
        self.stamp = stamp
        if self.tally.start <= now <= self.tally.end:
            self.tally.delays.append(now - float(stamp))


class Watchers:
    """Event streams opened in batches, all of them adding to one Tally."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.tally = Tally()
        self.streams: list[Stream] = []

    async def open(self, paths: list[str]) -> None:
        """Open one stream per path; return once each has shown its first document."""
        loop = asyncio.get_running_loop()
        target = self.tally.ready + len(paths)
        for path in paths:
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
            ).encode()
            _, stream = await loop.create_connection(
                functools.partial(Stream, request, self.tally), self.host, self.port
            )
            self.streams.append(stream)
        deadline = time.monotonic() + OPEN_SECONDS
        while self.tally.ready < target:
            if self.tally.lost:
                raise RuntimeError(f"{len(self.tally.lost)} streams lost: {self.tally.lost[0]}")
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{target - self.tally.ready} of {len(paths)} streams showed no document "
                    f"within {OPEN_SECONDS:.0f} s"
                )
            await asyncio.sleep(0.05)

    def close(self) -> None:
        for stream in self.streams:
            stream.closed_why = stream.closed_why or "closed by the client"
            if stream.transport is not None:
                stream.transport.close()
        self.streams = []
