"""The supervisor's books: the jobs it handed to children and that have not ended.

They are kept by attempt (protocol.Key, job id and attempt), here, on each Child (its `jobs` and
`queued`), in the write buffers and in the child itself, because one worker can hold the same job
twice at once: after a stall past its lease, its own rescue (or another worker's) may requeue a
job that its child still runs, and the worker may claim it again. The old attempt is then lost:
its writes are fenced by the store anyway, the supervisor stops it like any lost lease and drops
its late outcome, while the new attempt runs with books of its own.

Owned by the supervisor's thread; what becomes of a job (ended, given back, lost) is the
supervisor's to decide, and it calls remove() once a job is done with.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..model import JobRecord, Lease
from .pool import Child
from .protocol import Key

log = logging.getLogger("underway.worker")


@dataclass(eq=False)
class Running:
    """A job the supervisor handed to a child."""

    record: JobRecord
    lease: Lease
    child: Child
    started: float
    timeout: float | None  # None: no time-out
    deadline: float | None  # None: no time-out, or waiting in the child for a slot
    lost: bool = False
    stop_by: float | None = None
    backstop: float = 0.0  # added to the time-out before the supervisor kills the child
    key: Key = field(init=False)

    def __post_init__(self) -> None:
        self.key = (self.lease.job_id, self.lease.attempt)

    @property
    def label(self) -> str:
        return f"{self.record.task}[{self.record.id}]"


class Books:
    def __init__(self) -> None:
        self.running: dict[Key, Running] = {}

    def add(
        self, record: JobRecord, child: Child, timeout: float | None, backstop: float, now: float
    ) -> Running:
        """Enter a job just handed to the child: started at once if it has a free slot, else
        queued behind its other jobs."""
        lease = Lease(record.id, record.attempts)
        running = Running(record, lease, child, now, timeout, None, backstop=backstop)
        self.running[running.key] = running
        if child.busy < child.slots:
            self.begin(running, now)
        else:
            child.queued.append(running.key)
        child.jobs.add(running.key)
        return running

    def superseded(self, record: JobRecord) -> Running | None:
        """An earlier attempt of a job just claimed again, still held here and not yet lost:
        the job was rescued while our child ran it (we stalled past the lease)."""
        for attempt in range(record.attempts - 1, 0, -1):
            if (older := self.running.get((record.id, attempt))) is not None:
                log.warning(
                    "%s claimed again as attempt %d while attempt %d runs here; stopping it",
                    older.label,
                    record.attempts,
                    attempt,
                )
                return None if older.lost else older
        return None

    def live(self, key: Key) -> Running | None:
        """The job of this attempt if it is held and its lease not lost."""
        running = self.running.get(key)
        return None if running is None or running.lost else running

    def begin(self, running: Running, now: float) -> None:
        """The job has a slot in its child: its time-out runs from now."""
        running.started = now
        if running.timeout is not None:
            running.deadline = now + running.timeout + running.backstop
        record = running.record
        log.debug("%s started (attempt %d/%d)", running.label, record.attempts, record.max_attempts)

    def begin_queued(self, child: Child, now: float) -> None:
        """Slots freed in the child: it has started its oldest queued jobs, as we do here."""
        while child.queued and child.busy < child.slots:
            running = self.running.get(child.queued.popleft())
            if running is not None:
                self.begin(running, now)

    def remove(self, running: Running) -> None:
        key, child = running.key, running.child
        self.running.pop(key, None)
        child.jobs.discard(key)
        if running.deadline is None and key in child.queued:  # cancelled while queued
            child.queued.remove(key)

    def of(self, keys: Iterable[Key]) -> list[Running]:
        """The jobs of these keys that are in the books (a child's, the withdrawn ones)."""
        return [running for key in keys if (running := self.running.get(key)) is not None]

    def next_deadline(self) -> float:
        """The soonest time-out or cancel deadline (monotonic time); inf when there is none."""
        soonest = math.inf
        for running in self.running.values():
            if running.deadline is not None and running.deadline < soonest:
                soonest = running.deadline
            if running.stop_by is not None and running.stop_by < soonest:
                soonest = running.stop_by
        return soonest
