"""One store call at a time on a thread of its own, so the supervisor's loop goes on meanwhile.

Writing outcomes and claiming the next jobs waits on the database (a commit, a round trip);
children holding jobs beyond their slots keep working during that wait, and the loop keeps
reading their messages. The loop learns that the call returned when `fileno()` turns readable.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable
from typing import Any


class BackgroundCall:
    """threaded=False runs each call at once, in start(): for a store whose writes are local
    CPU work (SQLite), where a second thread would only contend for the GIL."""

    def __init__(self, threaded: bool = True) -> None:
        self.threaded = threaded
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._calls: queue.SimpleQueue[Callable[[], Any] | None] = queue.SimpleQueue()
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None
        self.busy = False
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._serve, name="underway-store", daemon=True)
            self._thread.start()

    def fileno(self) -> int:
        return self._wake_read.fileno()

    def start(self, call: Callable[[], Any]) -> None:
        if self.busy:
            raise RuntimeError("a store call is already running")
        self.busy = True
        self._done.clear()
        if self.threaded:
            self._calls.put(call)
        else:
            self._call(call)

    def result(self) -> Any:
        """Wait for the call to return; its value, or what it raised, raised here."""
        self._done.wait()
        try:
            while self._wake_read.recv(64):
                pass
        except BlockingIOError:
            pass
        self.busy = False
        result, error, self._result, self._error = self._result, self._error, None, None
        if error is not None:
            raise error
        return result

    def close(self) -> None:
        if self._thread is not None:
            self._calls.put(None)
            self._thread.join(5)
        self._wake_read.close()
        self._wake_write.close()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            self._call(call)
            del call

    def _call(self, call: Callable[[], Any]) -> None:
        try:
            self._result = call()
        except BaseException as exc:  # handed to the loop, which decides
            self._error = exc
        self._done.set()
        self._wake_write.send(b"\0")
