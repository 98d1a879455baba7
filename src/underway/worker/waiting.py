"""One selector kept across loop turns: cheaper than building a new one for every wait."""

from __future__ import annotations

import contextlib
import selectors
from typing import Any


class Waiter:
    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()

    def add(self, source: Any, tag: Any) -> None:
        self.selector.register(source, selectors.EVENT_READ, tag)

    def remove(self, source: Any) -> None:
        # Already gone, or its descriptor already closed (it was unregistered before that).
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.selector.unregister(source)

    def wait(self, timeout: float) -> list[Any]:
        """The tags of the sources that are readable (or closed) within timeout seconds."""
        return [key.data for key, _ in self.selector.select(timeout)]

    def close(self) -> None:
        self.selector.close()
