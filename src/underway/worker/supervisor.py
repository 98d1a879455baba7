"""The supervisor: the worker's parent process, its claim/dispatch loop and only database client.

It claims jobs in batches of free slots, hands each to a child over a pipe, gathers progress and
outcomes from the children and writes them back in batches, and keeps the books of the jobs it
is running: time-outs, cancels, and what becomes of a job when its child dies or the worker
stops. Its neighbours: the children themselves are the Pool's (pool.py), the periodic work
(heartbeat, lease rescue, --max-time) is Maintenance's (maintenance.py), riding out a database
outage is Outage's (outage.py). All state here, and theirs, is owned by the one thread that runs
Supervisor.run().
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from typing import Any

from ..app import Underway
from ..errors import StoreUnavailable
from ..ids import new_job_id
from ..model import ClaimRequest, JobRecord, Lease, Outcome, ProgressWrite, merge_progress
from . import logs, protocol
from .background import BackgroundCall
from .config import (
    ASYNC_TIMEOUT_BACKSTOP,
    IDLE_BACKOFF_AFTER,
    IDLE_TICK,
    IDLE_TICK_MAX,
    WorkerConfig,
)
from .maintenance import Maintenance, Report
from .outage import Outage
from .outcome import Running, outcome_of
from .pool import Child, Pool
from .signals import SignalWakeup
from .waiting import Waiter
from .writes import WriteBuffer, log_refused

log = logging.getLogger("underway.worker")
WAKE = object()  # tag of the signal wake-up socket
WORK = object()  # tag of the store's new-work descriptor
WRITTEN = object()  # tag of the background store call's descriptor


class Supervisor:
    def __init__(self, app: Underway, config: WorkerConfig) -> None:
        self.app = app
        self.store = app.store
        self.config = config
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{new_job_id()[-6:]}"
        self.running: dict[str, Running] = {}
        self.waiter = Waiter()
        self.pool = Pool(config, self.waiter)
        now = time.monotonic()
        self.maintenance = Maintenance(self.store, self.worker_id, config, self.running, now)
        self.outage = Outage(now)
        self.writes = WriteBuffer(self.store, self.worker_id, config.progress_interval, now)
        # Outcomes are written in the background, then the next claim, in one transaction.
        self.background = BackgroundCall(threaded=self.store.writes_wait_on_server)
        # The outcomes being written in the background, and the claim that goes with them.
        self.in_flight: tuple[list[tuple[str, Outcome]], ClaimRequest | None] = ([], None)
        self.stopping = False
        self.grace_deadline = 0.0
        self.exit_code = 0
        self.finished_jobs = 0
        self.maybe_work = True
        self.last_claim_empty = False
        self.last_busy = now
        self.next_poll = now
        self.work_fd: int | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def run(self) -> int:
        self.wakeup = SignalWakeup(self._on_signal)
        self.waiter.add(self.wakeup, WAKE)
        self.waiter.add(self.background, WRITTEN)
        try:
            self.store.schema_ensure()
            now = time.monotonic()
            self._after_maintenance(self.maintenance.beat(now), now)
            log.info(
                "worker %s started: %d processes x %d slots, queues %s, database %s",
                self.worker_id,
                self.config.processes,
                self.config.concurrency,
                ", ".join(self.config.queues) or "all",
                self.store.url,
            )
            for _ in range(self.config.processes):
                self.pool.add()
            self._loop()
        finally:
            self._shutdown()
            self.wakeup.close()
            self.waiter.close()
            self.background.close()
        return self.exit_code

    def _on_signal(self, signum: int, _frame: Any) -> None:
        now = time.monotonic()
        name = signal.Signals(signum).name
        if self.stopping:
            log.warning("second %s: stopping now", name)
            self.grace_deadline = now
            return
        log.info(
            "%s: finishing %d running jobs (up to %gs), then exiting",
            name,
            len(self.running),
            self.config.grace,
        )
        self._begin_stop(now)

    def _begin_stop(self, now: float) -> None:
        if not self.stopping:
            self.stopping = True
            self.grace_deadline = now + self.config.grace
            self.pool.withdraw_queued()

    def _shutdown(self) -> None:
        if self.background.busy:
            self._on_written(time.monotonic())
        for child in list(self.pool.children):
            self._drain(child)  # outcomes already sent must not be lost to the kill below
        if self.running:
            # Kill first: a job must not finish in a child after it went back to pending.
            self.pool.kill_all()
            self._abandon(list(self.running.values()))
        self.outage.guard(lambda _now: self.writes.flush(), time.monotonic())
        self.pool.stop_all()
        try:
            self.store.worker_remove(self.worker_id)
        except Exception as exc:  # the database may be gone; the row then ages out
            log.warning("could not unregister worker %s: %s", self.worker_id, exc)
        log.info("worker %s stopped after %d jobs", self.worker_id, self.finished_jobs)

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            if self.stopping and (not self.running or now >= self.grace_deadline):
                return
            self.outage.guard(self._claim_if_ready, now)
            idle = not self.running and not self.background.busy
            if self.config.burst and self.last_claim_empty and idle:
                log.info("burst: no job is ready; exiting")
                return
            self._watch_work_fd()
            logs.flush()
            for tag in self.waiter.wait(self._timeout(time.monotonic())):
                self._on_ready(tag)
            now = time.monotonic()
            self._enforce_deadlines(now)
            self.outage.guard(self._store_turn, now)

    def _watch_work_fd(self) -> None:
        """Wait on the store's new-work descriptor; it changes when its connection is remade."""
        fd = self.store.work_wake_fd()
        if fd != self.work_fd:
            if self.work_fd is not None:
                self.waiter.remove(self.work_fd)
            if fd is not None:
                self.waiter.add(fd, WORK)
            self.work_fd = fd

    def _store_turn(self, now: float) -> None:
        self.writes.flush_due(now)
        if self.writes.outcomes and not self.background.busy:
            self._write_outcomes()
        self._after_maintenance(self.maintenance.run_due(now), now)

    def _write_outcomes(self) -> None:
        """Write the outcomes in the background; refill the slots they free in the same
        transaction (see _on_written)."""
        batch = self.writes.take_outcomes()
        outcomes = [outcome for _, outcome in batch]
        claim = self._claim_request()
        store, worker_id = self.store, self.worker_id
        self.in_flight = (batch, claim)
        if claim is None:
            self.background.start(lambda: (store.job_finish(worker_id, outcomes), []))
        else:
            self.background.start(lambda: store.job_finish_and_claim(worker_id, outcomes, claim))

    def _on_written(self, now: float) -> None:
        batch, claim = self.in_flight
        self.in_flight = ([], None)
        try:
            refused, claimed = self.background.result()
        except StoreUnavailable as exc:
            self.writes.give_back(batch)
            self.outage.failed(exc, now)
            return
        self.outage.reachable(now)
        log_refused(batch, refused)
        if claim is None:
            self.maybe_work = True
        elif self.stopping:  # claimed while the stop began: never started, so not charged
            self.writes.release([Lease(record.id, record.attempts) for record in claimed])
        else:
            self._started(claimed, claim.limit, now)

    def _timeout(self, now: float) -> float:
        moments = [self.maintenance.next_due()]
        if self.outage.since is not None:
            moments = [self.outage.retry_at]
        elif self.writes.checkpoints or (self.writes.outcomes and not self.background.busy):
            moments.append(now)
        elif (flush := self.writes.next_moment()) is not None:
            moments.append(flush)
        if self.pool.free_slots() and not self.stopping:
            moments.append(self.next_poll)
            if self.work_fd is None:
                idle = now - self.last_busy > IDLE_BACKOFF_AFTER
                moments.append(now + (IDLE_TICK_MAX if idle else IDLE_TICK))
        for running in self.running.values():
            if running.deadline is not None:
                moments.append(running.deadline)
            if running.stop_by is not None:
                moments.append(running.stop_by)
        if self.stopping:
            moments.append(self.grace_deadline)
        return max(0.0, min(moments) - now)

    def _on_ready(self, tag: Any) -> None:
        if tag is WRITTEN:
            self._on_written(time.monotonic())
        elif tag is WAKE:
            self.wakeup.drain()
        elif tag is WORK:
            self.outage.guard(self._check_work, time.monotonic())
        elif isinstance(tag, tuple):
            what, child = tag
            if child not in self.pool.children:
                return
            self._drain(child)
            if what == "exit":
                self._on_child_exit(child)

    def _check_work(self, _now: float) -> None:
        if self.store.work_changed():
            self.maybe_work = True

    # -- claiming ------------------------------------------------------------------------------

    def _claim_if_ready(self, now: float) -> None:
        # A claim may be on its way back with the outcomes being written.
        if self.stopping or self.background.busy or not self.pool.free_slots():
            return
        if self.work_fd is None and self.store.work_changed():
            self.maybe_work = True
        if not (self.maybe_work or now >= self.next_poll):
            return
        claim = self._claim_request()
        if claim is None:
            return
        records = self.store.job_claim(self.worker_id, claim)
        self._started(records, claim.limit, now)

    def _claim_request(self) -> ClaimRequest | None:
        free = self.pool.free_slots()
        if self.config.max_jobs is not None:  # hold no job that --max-jobs would leave unrun
            free = min(free, self.config.max_jobs - self.finished_jobs - len(self.running))
        if self.stopping or free <= 0:
            return None
        return ClaimRequest(
            self.config.queues, free, self.config.lease, time.time(), self.config.tries or 1
        )

    def _started(self, records: list[JobRecord], asked: int, now: float) -> None:
        """Hand claimed jobs to children, one message per child."""
        self.maybe_work = len(records) == asked
        self.last_claim_empty = not records
        self.next_poll = now + self.config.sleep
        if records:
            self.last_busy = now
        batches: dict[Child, list[dict[str, Any]]] = {}
        for record in records:
            child, wire = self._start(record, now)
            batches.setdefault(child, []).append(wire)
        for child, jobs in batches.items():
            protocol.send(child.conn, {"op": "run", "jobs": jobs})

    def _start(self, record: JobRecord, now: float) -> tuple[Child, dict[str, Any]]:
        """Give the job to the child with most room; return it and the job's message."""
        child = max(self.pool.children, key=lambda c: c.free)
        timeout = record.timeout if record.timeout is not None else self.config.timeout
        task = self.app.tasks.get(record.task)
        backstop = ASYNC_TIMEOUT_BACKSTOP if task is not None and task.is_async else 0.0
        lease = Lease(record.id, record.attempts)
        running = Running(record, lease, child, now, timeout, None, backstop=backstop)
        self.running[record.id] = running
        if child.busy < child.slots:
            self._begin(running, now)
        else:
            child.queued.append(record.id)
        child.jobs.add(record.id)
        return child, protocol.job_to_wire(record, timeout)

    def _begin(self, running: Running, now: float) -> None:
        """The job has a slot in its child: its time-out runs from now."""
        running.started = now
        if running.timeout is not None:
            running.deadline = now + running.timeout + running.backstop
        record = running.record
        log.debug("%s started (attempt %d/%d)", running.label, record.attempts, record.max_attempts)

    def _begin_queued(self, child: Child, now: float) -> None:
        """Slots freed in the child: it has started its oldest queued jobs, as we do here."""
        while child.queued and child.busy < child.slots:
            running = self.running.get(child.queued.popleft())
            if running is not None:
                self._begin(running, now)

    # -- messages from children ----------------------------------------------------------------

    def _drain(self, child: Child) -> None:
        try:
            while not child.conn.closed and child.conn.poll():
                self._on_message(child, protocol.receive(child.conn))
        except (EOFError, OSError):
            self.waiter.remove(child.conn)
            child.conn.close()

    def _on_message(self, child: Child, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "ready":
            child.ready = True
            self.maybe_work = True
        elif op == "progress":
            for wire in message["writes"]:
                self._merge_progress(protocol.progress_from_wire(wire))
        elif op == "checkpoint":
            write = protocol.progress_from_wire(message["write"])
            self.writes.add_checkpoint(write, protocol.saved_answer(child.conn, write.lease.job_id))
        elif op == "withdrawn":
            waiting = [self.running[i] for i in message["ids"] if i in self.running]
            self._abandon(waiting)
        elif op == "done":
            for done in message["jobs"]:
                self._on_done(done)
            self._begin_queued(child, time.monotonic())
            self.pool.check_memory(child, message["rss"])

    def _merge_progress(self, write: ProgressWrite) -> None:
        running = self.running.get(write.lease.job_id)
        if running is not None and not running.lost and running.lease == write.lease:
            self.writes.add_progress(write)

    def _on_done(self, message: dict[str, Any]) -> None:
        running = self.running.get(message["id"])
        if running is None or running.lease.attempt != message["attempt"]:
            return
        progress = self.writes.take_progress(running.record.id)
        if message["progress"] is not None:
            final = protocol.progress_from_wire(message["progress"])
            progress = merge_progress(progress, final)
        self._end(running, message["kind"], message, progress)
        self.last_busy = time.monotonic()

    def _end(
        self, running: Running, kind: str, detail: dict[str, Any], progress: ProgressWrite | None
    ) -> None:
        self._forget(running)
        self.finished_jobs += 1
        self.pool.job_took(time.monotonic() - running.started)
        if running.lost:
            log.warning("%s stopped: it was cancelled or taken over", running.label)
        else:
            outcome = outcome_of(running, kind, detail, progress)
            self.writes.add_outcome(running.label, outcome)
        if self.config.max_jobs is not None and self.finished_jobs >= self.config.max_jobs:
            self._begin_stop(time.monotonic())

    def _forget(self, running: Running) -> None:
        job_id, child = running.record.id, running.child
        self.running.pop(job_id, None)
        child.jobs.discard(job_id)
        if running.deadline is None and job_id in child.queued:  # cancelled while queued
            child.queued.remove(job_id)
        self.pool.retire_if_idle(child)

    # -- the jobs of a child that ends ---------------------------------------------------------

    def _on_child_exit(self, child: Child) -> None:
        ended = self.pool.reap(child)
        waiting = [self.running[job_id] for job_id in child.queued if job_id in self.running]
        if waiting:  # never started: back to pending, no attempt charged
            self._abandon(waiting)
        jobs = [self.running[job_id] for job_id in list(child.jobs)]
        code = ended.code
        if jobs and ended.unexpected:
            log.error(
                "child %d exited unexpectedly (code %s) with %d jobs", child.pid, code, len(jobs)
            )
            for running in jobs:
                detail = {"error": f"WorkerCrashed: the worker process exited with code {code}"}
                self._end(running, "error", detail, self.writes.take_progress(running.record.id))
        if ended.could_not_start:
            log.error("child %d could not start (code %s); stopping", child.pid, code)
            self.exit_code = 1
            self._begin_stop(time.monotonic())
            return
        if not self.stopping:
            self.pool.add()

    def _kill_child(self, child: Child, spare: Running | None = None) -> None:
        """Kill a child whose job cannot be stopped otherwise; its other jobs go back to pending
        uncharged."""
        self._drain(child)
        others = [self.running[j] for j in child.jobs if spare is None or j != spare.record.id]
        self.pool.kill(child)
        self._abandon(others)
        self._on_child_exit(child)

    def _abandon(self, jobs: list[Running]) -> None:
        """Put jobs back to pending without charging the attempt, keeping their progress."""
        live = [r for r in jobs if not r.lost]
        writes = [w for r in live if (w := self.writes.take_progress(r.record.id)) is not None]
        self.writes.release([r.lease for r in live], writes)
        for running in jobs:
            log.info("%s put back to pending", running.label)
            self._forget(running)

    # -- time-outs, cancels, maintenance -------------------------------------------------------

    def _enforce_deadlines(self, now: float) -> None:
        for running in list(self.running.values()):
            if running.record.id not in self.running:
                continue  # ended with a sibling killed earlier in this loop
            if running.deadline is not None and now >= running.deadline and not running.lost:
                log.warning(
                    "%s timed out after %g s; killing its process", running.label, running.timeout
                )
                detail = {"error": f"TimeoutError: timed out after {running.timeout:g} s"}
                self._end(running, "error", detail, self.writes.take_progress(running.record.id))
                self._kill_child(running.child, spare=running)
            elif running.stop_by is not None and now >= running.stop_by:
                log.warning("%s ignored its cancel; killing its process", running.label)
                self._end(running, "cancelled", {}, None)
                self._kill_child(running.child, spare=running)

    def _after_maintenance(self, report: Report, now: float) -> None:
        """Act on what a maintenance pass found, then raise what cut the pass short, if any."""
        for running in report.lost:
            self._lose(running, now)
        if report.freed:
            self.maybe_work = True
        if report.stop:
            self._begin_stop(now)
        if report.error is not None:
            raise report.error

    def _lose(self, running: Running, now: float) -> None:
        running.lost = True
        running.stop_by = now + self.config.grace
        self.writes.take_progress(running.record.id)
        with contextlib.suppress(OSError):
            protocol.send(running.child.conn, {"op": "cancel", "id": running.record.id})
