"""Threads for plain (def) tasks, handing their results back to the event loop in batches.

concurrent.futures' pool wakes the loop once per finished call, which costs a no-op job about
three times what the job itself costs; here the first result of a batch wakes the loop and the
rest ride along with it.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = None


class TaskThreads:
    """Up to `size` threads, started as calls need them and kept for the next ones."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self.size = size
        self.threads: list[threading.Thread] = []
        self.inbox: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self.outbox: collections.deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = (
            collections.deque()
        )
        self.lock = threading.Lock()
        self.idle = 0  # threads waiting for a call, or about to
        self.wake_sent = False

    def run(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """Call fn in a thread; the future gets its return value or exception."""
        future = self.loop.create_future()
        with self.lock:
            start = self.idle == 0 and len(self.threads) < self.size
            if not start and self.idle:
                self.idle -= 1
        if start:
            thread = threading.Thread(target=self._work, name="underway-task", daemon=True)
            self.threads.append(thread)
            thread.start()
        self.inbox.put((fn, future))
        return future

    def stop(self) -> None:
        """Let every thread end after its current call; calls not started are dropped."""
        for _ in self.threads:
            self.inbox.put(_STOP)

    def _work(self) -> None:
        while (item := self.inbox.get()) is not _STOP:
            fn, future = item
            try:
                value, error = fn(), None
            except BaseException as exc:  # handed to the awaiting task, which sorts it out
                value, error = None, exc
            self.outbox.append((future, value, error))
            del item, fn, future, value, error  # a finished call's objects must not linger here
            with self.lock:
                self.idle += 1
                wake, self.wake_sent = not self.wake_sent, True
            if wake:
                self.loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self.lock:
            self.wake_sent = False
        outbox = self.outbox
        while outbox:
            future, value, error = outbox.popleft()
            if future.cancelled():
                continue
            if error is None:
                future.set_result(value)
            elif isinstance(error, StopIteration):  # a future refuses it; the task must fail
                future.set_exception(RuntimeError(f"the task raised {error!r}"))
            else:
                future.set_exception(error)
