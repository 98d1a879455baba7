"""A limit on failed token checks per client address, so that guessing tokens is slow.

A client (by address) that failed max_failures times within window seconds, by a wrong bearer
token or a wrong token on the sign-in form, is answered 429 for every token it presents until
the oldest of those failures is window seconds old. The token is not even checked meanwhile:
otherwise the answer would still tell a guesser when it guessed right. Successes never count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW_SECONDS = 60.0
MAX_CLIENTS = 10_000  # addresses remembered at most; the least recently failing are forgotten


class Throttle:
    """Failures per client address. Shared by the server's threads: every access holds the
    lock. max_failures 0 turns the limit off."""

    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window: float = DEFAULT_WINDOW_SECONDS,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 0 or window <= 0 or max_clients < 1:
            raise ValueError(
                "max_failures must not be negative, window and max_clients must be positive"
            )
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until client may present a token again, or None when it may now."""
        if not self.max_failures:
            return None
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return None
            now = self._clock()
            while times and times[0] <= now - self.window:
                times.popleft()
            if not times:
                del self._failures[client]
                return None
            if len(times) < self.max_failures:
                return None
            return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, client: str) -> None:
        if not self.max_failures:
            return
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                times = self._failures[client] = deque(maxlen=self.max_failures)
            times.append(self._clock())
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures)
