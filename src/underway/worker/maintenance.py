"""Maintenance: the periodic work a worker does for everybody, one pass at a time.

Each duty runs at its own interval: the heartbeat records the worker as alive, renews the leases
of its jobs and learns which ones it lost (cancelled, or rescued by another worker); lease rescue
requeues the jobs of workers that died; batch settling dispatches the callbacks of batches that
ended (every worker tries; the store lets exactly one dispatch each: batchsettle.py). After the
duties, a pass checks --max-time. A pass does the store calls and reports what the supervisor
must act on (a Report); it never touches the children nor the jobs' bookkeeping.

A new periodic duty is one method `_name(now, report)` and one Duty entry in `self.duties`.

Times are read from `clock` (monotonic) when they are used, never carried across a store call: a
call may block for seconds (another client holding SQLite's write lock, PostgreSQL waiting on a
lock), and what follows it must count from when it returned.

Owned by the supervisor's thread, which calls run_due() once per loop turn; `running` is the
supervisor's own dict of jobs, read here and never changed.

The stall rule. A worker rescues leases only after it has itself seen the store without a break
for a full lease. `sighted_since` (S) is reset to the time a heartbeat completes whenever the
previous successful heartbeat completed more than half a lease earlier, or a store call failed
since: the worker was blind meanwhile (its calls blocked or failing, or the process paused). At
start, S is the start time. The rescue runs only when now - S >= lease.

Why. Leases are renewed every third of a lease at most, so a live worker's lease runs out only if
it could not reach the store for about two thirds of a lease. When every worker was blocked at
once (a shared stall: a lock held from outside, the database unreachable), all their leases run
out together, and the first worker whose call returns would rescue the jobs of the others, which
are alive and about to renew: their jobs would run twice. Under the rule, a job whose lease
expired at E, last renewed at h = E - lease, is rescued only if now - max(h, S) >= lease: its
worker stayed silent for a full lease of the rescuer's own healthy time. A shared stall resets S
in every worker that lives through it (each saw a gap longer than half a lease, or a failure),
so each has a full lease to heartbeat before anyone rescues it; a worker that is really gone
stays silent and is rescued one lease after the rescuer recovered. The half-lease threshold is
below what it takes for a live worker's lease to run out (two thirds of a lease without renewal),
so a stall short enough not to reset S expired nobody. The price: a worker rescues nothing during
its first lease, nor for a lease after it was blind.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..batchsettle import settle_due
from ..store.base import Store, WorkerInfo
from .books import Running
from .config import WorkerConfig
from .protocol import Key

log = logging.getLogger("underway.worker")

# How often a worker looks for batches whose callbacks are due: a callback starts within about
# this long of its batch's end. The look is one read of a partial index, empty most of the time.
BATCH_SETTLE_INTERVAL = 0.5


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
    # Called with the time it starts; returns when it is due next, or None: one interval after
    # it returned.
    run: Callable[[float, Report], float | None]
    interval: float  # seconds from one successful run to the next
    next_at: float  # monotonic time it is due


class Maintenance:
    def __init__(
        self,
        store: Store,
        worker_id: str,
        config: WorkerConfig,
        running: Mapping[Key, Running],
        now: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.config = config
        self.running = running
        self.clock = clock
        self.started_wall = time.time()
        self.started = now
        self.sighted_since = now  # S of the stall rule (see the module's docstring)
        self.last_beat = now  # when the last successful heartbeat returned; the start counts
        self.blind = False  # a store call failed since the last successful heartbeat
        self.heartbeat = Duty("heartbeat", self._heartbeat, config.heartbeat_interval, now)
        # In this order: heartbeat before rescue, as after an outage our own leases may have run
        # out meanwhile.
        self.duties = [
            self.heartbeat,
            Duty("rescue", self._rescue, config.rescue_interval, now),
            Duty("batches", self._settle_batches, BATCH_SETTLE_INTERVAL, now),
        ]

    def run_due(self) -> Report:
        """Run the duties that are due, in order, then check --max-time (on every pass)."""
        report = Report()
        for duty in self.duties:
            if self.clock() >= duty.next_at and not self._run(duty, report):
                return report
        if self.config.max_time is not None:
            report.stop = self.clock() - self.started >= self.config.max_time
        return report

    def beat(self) -> Report:
        """A heartbeat now, due or not: the worker registers itself before it starts work."""
        report = Report()
        self._run(self.heartbeat, report)
        return report

    def next_due(self) -> float:
        """When the next duty is due (monotonic time)."""
        return min([duty.next_at for duty in self.duties])

    def store_failed(self) -> None:
        """A store call failed (the supervisor's, in an outage): the worker was blind."""
        self.blind = True

    def _run(self, duty: Duty, report: Report) -> bool:
        try:
            due = duty.run(self.clock(), report)
        except Exception as exc:  # the supervisor raises it once it acted on the report
            self.blind = True
            report.error = exc
            return False
        duty.next_at = self.clock() + duty.interval if due is None else due
        return True

    # -- the duties ----------------------------------------------------------------------------

    def _heartbeat(self, began: float, report: Report) -> float | None:
        """Renew the leases of our jobs; a lease not renewed was lost."""
        live = [r for r in self.running.values() if not r.lost]
        held = self.store.job_heartbeat(
            self._info(), [r.lease for r in live], self.config.lease, time.time()
        )
        done = self.clock()
        self._sighted(done)
        for running in live:
            if running.record.id not in held:
                log.warning("%s was cancelled or taken over; stopping it", running.label)
                report.lost.append(running)
        # The leases run from the wall time taken before the call: if it blocked for longer than
        # a beat, they are that much shorter already. Renew them again at once.
        return done if done - began > self.heartbeat.interval else None

    def _sighted(self, done: float) -> None:
        """A heartbeat returned at `done`: restart S if the worker was blind before it."""
        gap = done - self.last_beat
        if self.blind or gap > self.config.lease / 2:
            self.sighted_since = done
            log.info(
                "the database was out of sight for %.1fs; rescuing no lease for %gs",
                gap,
                self.config.lease,
            )
        self.blind = False
        self.last_beat = done

    def _rescue(self, now: float, report: Report) -> float | None:
        """Requeue (or fail) the jobs whose lease ran out: their worker is gone. Only once this
        worker has seen the store for a full lease itself (the stall rule)."""
        allowed_at = self.sighted_since + self.config.lease
        if now < allowed_at:
            return allowed_at
        for job_id, status in self.store.lease_rescue(time.time()):
            log.warning("job %s lost its worker; now %s", job_id, status.value)
            report.freed = True
        return None

    def _settle_batches(self, now: float, report: Report) -> float | None:
        """Dispatch the callbacks of batches that ended, or whose child failed a batch that
        allows no failure."""
        for batch_id, kind, job_id, _task in settle_due(self.store):
            log.info("batch %s: %s dispatched as job %s", batch_id, kind, job_id)
            report.freed = True  # its job may be ours to claim
        return None

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
