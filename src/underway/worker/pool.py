"""The supervisor's children: start, stop, kill, and what each one is running."""

from __future__ import annotations

import collections
import logging
import multiprocessing
import signal
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from .config import WorkerConfig
from .process import child_main

log = logging.getLogger("underway.worker")
_spawn = multiprocessing.get_context("spawn")


@dataclass(eq=False)
class Child:
    process: BaseProcess
    conn: Connection
    slots: int
    jobs: set[str] = field(default_factory=set)  # every job handed over and not ended
    # Handed over while every slot was busy, oldest first: the child starts them in this order
    # as its slots free up.
    queued: collections.deque[str] = field(default_factory=collections.deque)
    ahead: int = 0  # how many jobs it may hold beyond its slots
    ready: bool = False
    retiring: bool = False
    killed: bool = False

    @property
    def free(self) -> int:
        """How many more jobs it may be handed now."""
        if not self.ready or self.retiring:
            return 0
        return max(0, self.slots + self.ahead - len(self.jobs))

    @property
    def busy(self) -> int:
        """Jobs running in its slots."""
        return len(self.jobs) - len(self.queued)

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def kill(self) -> None:
        self.killed = True
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


def start_child(config: WorkerConfig) -> Child:
    parent_end, child_end = _spawn.Pipe(duplex=True)
    process = _spawn.Process(
        target=child_main,
        args=(
            config.app_spec,
            child_end,
            config.concurrency,
            config.progress_interval,
            config.memory_mb is not None,
        ),
        name="underway-child",
        daemon=True,
    )
    # A signal arriving while the child starts must not hit it before it ignores signals.
    blocked = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    child_end.close()
    return Child(process, parent_end, config.concurrency)
