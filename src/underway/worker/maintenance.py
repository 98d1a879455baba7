"""Maintenance: the periodic work a worker does for everybody, one pass at a time.

Each duty runs at its own interval: the heartbeat records the worker as alive, renews the leases
of its jobs and learns which ones it lost (cancelled, or rescued by another worker); lease rescue
requeues the jobs of workers that died. After the duties, a pass checks --max-time. A pass does
the store calls and reports what the supervisor must act on (a Report); it never touches the
children nor the jobs' bookkeeping.

A new periodic duty is one method `_name(now, report)` and one Duty entry in `self.duties`.

Owned by the supervisor's thread, which calls run_due() once per loop turn; `running` is the
supervisor's own dict of jobs, read here and never changed.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..store.base import Store, WorkerInfo
from .config import WorkerConfig
from .outcome import Running

log = logging.getLogger("underway.worker")


@dataclass(slots=True)
class Report:
    """What a pass found that the supervisor must act on."""

    lost: list[Running] = field(default_factory=list)  # leases the heartbeat could not renew
    freed: bool = False  # rescue put jobs back to pending: there may be work to claim
    stop: bool = False  # --max-time has passed
    # What a duty raised (StoreUnavailable, in an outage): the pass ended there, and that duty
    # and the ones after it run on the next pass. What the pass found before it still counts;
    # the supervisor acts on it, then raises this.
    error: Exception | None = None


@dataclass(slots=True)
class Duty:
    name: str
    run: Callable[[float, Report], None]
    interval: float  # seconds from one successful run to the next
    next_at: float  # monotonic time it is due


class Maintenance:
    def __init__(
        self,
        store: Store,
        worker_id: str,
        config: WorkerConfig,
        running: Mapping[str, Running],
        now: float,
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.config = config
        self.running = running
        self.started_wall = time.time()
        self.started = now
        self.heartbeat = Duty("heartbeat", self._heartbeat, config.heartbeat_interval, now)
        # In this order: heartbeat before rescue, as after an outage our own leases may have run
        # out meanwhile.
        self.duties = [
            self.heartbeat,
            Duty("rescue", self._rescue, config.rescue_interval, now),
        ]

    def run_due(self, now: float) -> Report:
        """Run the duties that are due, in order, then check --max-time (on every pass)."""
        report = Report()
        for duty in self.duties:
            if now >= duty.next_at and not self._run(duty, now, report):
                return report
        if self.config.max_time is not None and now - self.started >= self.config.max_time:
            report.stop = True
        return report

    def beat(self, now: float) -> Report:
        """A heartbeat now, due or not: the worker registers itself before it starts work."""
        report = Report()
        self._run(self.heartbeat, now, report)
        return report

    def next_due(self) -> float:
        """When the next duty is due (monotonic time)."""
        return min([duty.next_at for duty in self.duties])

    def _run(self, duty: Duty, now: float, report: Report) -> bool:
        try:
            duty.run(now, report)
        except Exception as exc:  # the supervisor raises it once it acted on the report
            report.error = exc
            return False
        duty.next_at = now + duty.interval
        return True

    # -- the duties ----------------------------------------------------------------------------

    def _heartbeat(self, _now: float, report: Report) -> None:
        """Renew the leases of our jobs; a lease not renewed was lost."""
        live = [r for r in self.running.values() if not r.lost]
        held = self.store.job_heartbeat(
            self._info(), [r.lease for r in live], self.config.lease, time.time()
        )
        for running in live:
            if running.record.id not in held:
                log.warning("%s was cancelled or taken over; stopping it", running.label)
                report.lost.append(running)

    def _rescue(self, _now: float, report: Report) -> None:
        """Requeue (or fail) the jobs whose lease ran out: their worker is gone."""
        for job_id, status in self.store.lease_rescue(time.time()):
            log.warning("job %s lost its worker; now %s", job_id, status.value)
            report.freed = True

    def _info(self) -> WorkerInfo:
        return WorkerInfo(
            id=self.worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=self.config.queues,
            processes=self.config.processes,
            concurrency=self.config.concurrency,
            started_at=self.started_wall,
            last_seen_at=time.time(),
            lease_seconds=self.config.lease,
            running=len(self.running),
        )
