"""A local HTTP server on 127.0.0.1 that answers as the model APIs do and records what it got.

Each POST is answered with the next scripted Reply: a JSON body, or (``events``) a stream of
server-sent events written one at a time in chunked transfer encoding, as Gemini and OpenAI
stream. Nothing here reaches the internet.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_LIMIT = 10.0  # seconds a held stream waits for the test before it goes on anyway


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict or list: sent as JSON; str: sent as it is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # A stream instead of a body: each item is one event's text ("data: {...}\n\n"), sent alone.
    events: list[str] | None = None
    hold_after: int | None = None  # send this many events, then wait until `go` is set
    go: threading.Event = field(default_factory=threading.Event)
    released: bool | None = None  # whether `go` came before HOLD_LIMIT ran out
    pause: float = 0.0  # seconds between events
    cut_after: int | None = None  # drop the connection after this many events


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


def sse(*chunks: Any) -> list[str]:
    """Events whose data is each chunk as JSON (a str is sent as it is, e.g. "[DONE]")."""
    return [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]


class FakeAPI:
    """Answers each POST with the next scripted Reply and records the request."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle(self) -> None:
                # The client may give up first (time-out tests).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().handle()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = api.take(Received(self.path, headers, json.loads(raw)))
                time.sleep(reply.delay)
                if reply.events is not None:
                    api.send_stream(self, reply)
                    return
                body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                payload = body.encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json; charset=UTF-8")
                self.send_header("content-length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll keeps shutdown() fast.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @staticmethod
    def send_stream(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        handler.send_response(reply.status)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("transfer-encoding", "chunked")
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        for number, event in enumerate(reply.events or [], start=1):
            data = event.encode()
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()
            if number == reply.cut_after:
                handler.close_connection = True
                return  # no terminating chunk: the client sees the connection break
            if number == reply.hold_after:
                reply.released = reply.go.wait(HOLD_LIMIT)
            time.sleep(reply.pause)
        handler.wfile.write(b"0\r\n\r\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def take(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            if self.replies:
                return self.replies.popleft()
        return Reply(599, {"error": {"message": "the test scripted no reply for this request"}})

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
