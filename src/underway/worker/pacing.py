"""When the supervisor claims: at once when there may be work, else every --sleep.

There may be work when the last claim came back full, a child became ready, outcomes were written
without a claim (slots freed), a rescue requeued jobs, or the store says something changed. On
PostgreSQL that is its LISTEN descriptor, which the loop waits on (it changes when the store's
connection is remade: watch() follows it). SQLite has no notifications: an idle supervisor checks
PRAGMA data_version every IDLE_TICK, and every IDLE_TICK_MAX once nothing has happened for
IDLE_BACKOFF_AFTER seconds. Owned by the supervisor's thread.
"""

from __future__ import annotations

from ..store.base import Store
from .config import IDLE_BACKOFF_AFTER, IDLE_TICK, IDLE_TICK_MAX
from .waiting import Waiter


class Pacing:
    def __init__(self, store: Store, waiter: Waiter, tag: object, sleep: float, now: float) -> None:
        self.store = store
        self.waiter = waiter
        self.tag = tag  # the Waiter tag of the store's new-work descriptor
        self.sleep = sleep
        self.maybe_work = True
        self.last_claim_empty = False  # for --burst
        self.last_busy = now  # when jobs last came or went
        self.next_poll = now
        self.work_fd: int | None = None

    def watch(self) -> None:
        """Wait on the store's new-work descriptor, the current one."""
        fd = self.store.work_wake_fd()
        if fd != self.work_fd:
            if self.work_fd is not None:
                self.waiter.remove(self.work_fd)
            if fd is not None:
                self.waiter.add(fd, self.tag)
            self.work_fd = fd

    def check(self, _now: float) -> None:
        """The new-work descriptor turned readable (a step for Outage.guard: it reads the store)."""
        if self.store.work_changed():
            self.maybe_work = True

    def due(self, now: float) -> bool:
        """Whether to claim now (free slots permitting)."""
        if self.work_fd is None and self.store.work_changed():
            self.maybe_work = True
        return self.maybe_work or now >= self.next_poll

    def claimed(self, got: int, asked: int, now: float) -> None:
        self.maybe_work = got == asked
        self.last_claim_empty = not got
        self.next_poll = now + self.sleep
        if got:
            self.last_busy = now

    def next_moment(self, now: float) -> float:
        """When to look for work next, while slots are free."""
        if self.work_fd is not None:
            return self.next_poll
        idle = now - self.last_busy > IDLE_BACKOFF_AFTER
        return min(self.next_poll, now + (IDLE_TICK_MAX if idle else IDLE_TICK))
