"""The pool: the supervisor's children and their life cycle.

Starting children (with signals blocked), replacing them, retiring one that grew too large once
its jobs are done, killing one, and what a child's exit means. Which jobs a child holds is
recorded on the Child (its `jobs` and `queued`, by attempt), but what becomes of those jobs is
the supervisor's to decide. All state here is owned by the supervisor's thread.

A child that dies before it is ready (killed while it imports the app, say) is replaced like any
other; but MAX_START_FAILURES of them in a row mean the app cannot be imported in a child, and
the worker stops rather than start children for ever.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import signal
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from . import protocol
from .config import AHEAD_BATCHES, AHEAD_BELOW_SECONDS, MAX_START_FAILURES, WorkerConfig
from .process import child_main
from .protocol import Key
from .waiting import Waiter

log = logging.getLogger("underway.worker")
_spawn = multiprocessing.get_context("spawn")


@dataclass(eq=False)
class Child:
    process: BaseProcess
    conn: Connection
    slots: int
    jobs: set[Key] = field(default_factory=set)  # every attempt handed over and not ended
    # Handed over while every slot was busy, oldest first: the child starts them in this order
    # as its slots free up.
    queued: collections.deque[Key] = field(default_factory=collections.deque)
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


@dataclass(frozen=True, slots=True)
class Exit:
    """What a child's exit means for its jobs and for the worker."""

    code: int | None
    unexpected: bool  # not killed by the supervisor: the jobs it was running died with it
    # MAX_START_FAILURES children in a row died before they were ready: the worker cannot run.
    give_up: bool


class Pool:
    """The children, each registered with the supervisor's Waiter: its pipe under the tag
    ("message", child), its exit under ("exit", child)."""

    def __init__(self, config: WorkerConfig, waiter: Waiter) -> None:
        self.config = config
        self.waiter = waiter
        self.children: list[Child] = []
        self.job_seconds = AHEAD_BELOW_SECONDS  # a moving average of how long jobs take
        self.holding_ahead = False  # whether children may hold jobs beyond their slots
        self.start_failures = 0  # children that died before ready, in a row

    def free_slots(self) -> int:
        return sum(child.free for child in self.children)

    def add(self) -> None:
        child = start_child(self.config)
        self._set_ahead(child)
        self.children.append(child)
        self.waiter.add(child.conn, ("message", child))
        self.waiter.add(child.process.sentinel, ("exit", child))

    def ready(self, child: Child) -> None:
        child.ready = True
        self.start_failures = 0

    def remove(self, child: Child) -> None:
        if child in self.children:
            self.children.remove(child)
        self.waiter.remove(child.conn)
        self.waiter.remove(child.process.sentinel)

    def job_took(self, seconds: float) -> None:
        """Learn how long jobs take; let children hold a batch beyond their slots only while
        jobs are short."""
        self.job_seconds += (seconds - self.job_seconds) * 0.2
        holding = self.job_seconds < AHEAD_BELOW_SECONDS
        if holding != self.holding_ahead:
            self.holding_ahead = holding
            for child in self.children:
                self._set_ahead(child)

    def _set_ahead(self, child: Child) -> None:
        child.ahead = AHEAD_BATCHES * child.slots if self.holding_ahead else 0

    def withdraw_queued(self) -> None:
        """Ask every child to give back the jobs waiting for a slot (the worker is stopping)."""
        for child in self.children:
            if child.queued:  # not started: they go back to pending (see "withdrawn")
                with contextlib.suppress(OSError):
                    protocol.send(child.conn, {"op": "withdraw"})

    def check_memory(self, child: Child, rss: int | None) -> None:
        limit = self.config.memory_mb
        if limit is None or rss is None:  # children report their RSS only under --memory
            return
        if rss > limit * 1024 * 1024 and not child.retiring:
            log.warning(
                "child %d uses %.0f MB, over --memory %g MB: replacing it after its jobs",
                child.pid,
                rss / 1048576,
                limit,
            )
            child.retiring = True
            self.retire_if_idle(child)

    def retire_if_idle(self, child: Child) -> None:
        if child.retiring and not child.jobs and not child.killed:
            try:
                protocol.send(child.conn, {"op": "stop"})
            except OSError:
                child.kill()

    def reap(self, child: Child, stopping: bool) -> Exit:
        """Forget a child that exited (or was killed) and say what its exit means."""
        self.remove(child)
        child.process.join(1)
        if not child.conn.closed:
            child.conn.close()
        code = child.process.exitcode
        give_up = False
        if not child.ready and not child.killed and not child.retiring and not stopping:
            self.start_failures += 1
            give_up = self.start_failures >= MAX_START_FAILURES
            if give_up:
                log.error(
                    "children could not start %d times in a row (code %s); stopping",
                    self.start_failures,
                    code,
                )
            else:
                log.warning(
                    "child %d exited before it was ready (code %s); starting another",
                    child.pid,
                    code,
                )
        return Exit(code, unexpected=not child.killed, give_up=give_up)

    def kill(self, child: Child) -> None:
        """Kill a child now; reap() it afterwards."""
        self.remove(child)
        child.kill()

    def kill_all(self) -> None:
        for child in self.children:
            child.kill()

    def stop_all(self) -> None:
        """Ask the children still alive to stop; kill those that do not within 2 s."""
        for child in self.children:
            if child.process.is_alive() and not child.killed:
                with contextlib.suppress(OSError):
                    protocol.send(child.conn, {"op": "stop"})
        for child in self.children:
            child.process.join(2)
            child.kill()
