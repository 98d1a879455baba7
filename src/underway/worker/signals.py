"""SIGTERM and SIGINT in the supervisor: its handler, and a socket that wakes its loop.

A Python signal handler runs only between bytecodes of the main thread, so a loop asleep in
select() would see the signal at its next time-out; signal.set_wakeup_fd() also writes a byte to
a socket the loop waits on. Set up and torn down by the supervisor's thread, the main thread (the
only one that may install signal handlers).
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any


class SignalWakeup:
    """From creation to close(), SIGTERM and SIGINT go to handler and make fileno() readable;
    close() puts the previous handlers and wake-up descriptor back."""

    def __init__(self, handler: Callable[[int, FrameType | None], Any]) -> None:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        signals = (signal.SIGTERM, signal.SIGINT)
        self._previous = {sig: signal.signal(sig, handler) for sig in signals}

    def fileno(self) -> int:
        return self._read.fileno()

    def drain(self) -> None:
        """Empty the socket (the handler itself has run already)."""
        with contextlib.suppress(BlockingIOError):
            while self._read.recv(512):
                pass

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._read.close()
        self._write.close()
