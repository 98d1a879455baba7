"""The supervisor: the worker's parent process, its claim/dispatch loop and only database client.

It claims jobs in batches of free slots, hands each to a child over a pipe, gathers progress and
outcomes from the children and writes them back in batches, and decides what becomes of the jobs
it runs: time-outs, cancels, lost leases, a child that dies, a worker that stops. Its neighbours:
the books of those jobs, by attempt, are the Books' (books.py), the children themselves are the
Pool's (pool.py), when to claim is the Pacing's (pacing.py), the periodic work (heartbeat, lease
rescue, --max-time) is Maintenance's (maintenance.py), riding out a database outage is Outage's
(outage.py). All state here, and theirs, is owned by the one thread that runs Supervisor.run().
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
from ..model import ClaimRequest, JobRecord, Lease, ProgressWrite, merge_progress
from . import logs, protocol
from .books import Books, Running
from .config import ASYNC_TIMEOUT_BACKSTOP, WorkerConfig
from .maintenance import Maintenance, Report
from .outage import Outage
from .outcome import outcome_of
from .pacing import Pacing
from .pool import Child, Pool
from .protocol import key_of
from .signals import SignalWakeup
from .waiting import Waiter
from .writes import OutcomeWriter, WriteBuffer, refuse_checkpoint

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
        self.books = Books()
        self.waiter = Waiter()
        self.pool = Pool(config, self.waiter)
        now = time.monotonic()
        self.maintenance = Maintenance(self.store, self.worker_id, config, self.books.running, now)
        self.outage = Outage(now, config.outage_backoff_max, self.maintenance.store_failed)
        self.writes = WriteBuffer(self.store, self.worker_id, config.progress_interval, now)
        # Outcomes are written in the background, then the next claim, in one transaction.
        self.outcomes = OutcomeWriter(self.store, self.worker_id, self.writes)
        self.stopping = False
        self.grace_deadline = 0.0
        self.exit_code = 0
        self.finished_jobs = 0
        self.pacing = Pacing(self.store, self.waiter, WORK, config.sleep, now)

    # -- life cycle ----------------------------------------------------------------------------

    def run(self) -> int:
        self.wakeup = SignalWakeup(self._on_signal)
        self.waiter.add(self.wakeup, WAKE)
        self.waiter.add(self.outcomes, WRITTEN)
        try:
            self.store.schema_ensure()
            self._after_maintenance(self.maintenance.beat())
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
            self.outcomes.close()
        return self.exit_code

    def _on_signal(self, signum: int, _frame: Any) -> None:
        now = time.monotonic()
        name = signal.Signals(signum).name
        if self.stopping:
            log.warning("second %s: stopping now", name)
            self.grace_deadline = now
            return
        running, grace = len(self.books.running), self.config.grace
        log.info("%s: finishing %d running jobs (up to %gs), then exiting", name, running, grace)
        self._begin_stop(now)

    def _begin_stop(self, now: float) -> None:
        if not self.stopping:
            self.stopping = True
            self.grace_deadline = now + self.config.grace
            self.pool.withdraw_queued()

    def _shutdown(self) -> None:
        if self.outcomes.busy:
            self._on_written(time.monotonic())
        for child in list(self.pool.children):
            self._drain(child)  # outcomes already sent must not be lost to the kill below
        if self.books.running:
            # Kill first: a job must not finish in a child after it went back to pending.
            self.pool.kill_all()
            self._abandon(list(self.books.running.values()))
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
            if self.stopping and (not self.books.running or now >= self.grace_deadline):
                return
            self.outage.guard(self._claim_if_ready, now)
            idle = not self.books.running and not self.outcomes.busy
            if self.config.burst and self.pacing.last_claim_empty and idle:
                log.info("burst: no job is ready; exiting")
                return
            self.pacing.watch()
            logs.flush()
            for tag in self.waiter.wait(self._timeout(time.monotonic())):
                self._on_ready(tag)
            now = time.monotonic()
            self._enforce_deadlines(now)
            self.outage.guard(self._store_turn, now)

    def _store_turn(self, now: float) -> None:
        self.writes.flush_due(now)
        if self.writes.outcomes and not self.outcomes.busy:
            # Written in the background with the claim that refills the slots they free.
            self.outcomes.start(self._claim_request())
        self._after_maintenance(self.maintenance.run_due())

    def _on_written(self, now: float) -> None:
        try:
            claim, claimed = self.outcomes.result()
        except StoreUnavailable as exc:
            self.outage.failed(exc, now)
            return
        self.outage.reachable(now)
        if claim is None:
            self.pacing.maybe_work = True
        elif self.stopping:  # claimed while the stop began: never started, so not charged
            self.writes.release([Lease(record.id, record.attempts) for record in claimed])
        else:
            self._started(claimed, claim, now)

    def _timeout(self, now: float) -> float:
        moments = [self.maintenance.next_due()]
        if self.outage.since is not None:
            moments = [self.outage.retry_at]
        elif self.writes.checkpoints or (self.writes.outcomes and not self.outcomes.busy):
            moments.append(now)
        elif (flush := self.writes.next_moment()) is not None:
            moments.append(flush)
        if self.pool.free_slots() and not self.stopping:
            moments.append(self.pacing.next_moment(now))
        moments.append(self.books.next_deadline())
        if self.stopping:
            moments.append(self.grace_deadline)
        return max(0.0, min(moments) - now)

    def _on_ready(self, tag: Any) -> None:
        if tag is WRITTEN:
            self._on_written(time.monotonic())
        elif tag is WAKE:
            self.wakeup.drain()
        elif tag is WORK:
            self.outage.guard(self.pacing.check, time.monotonic())
        elif isinstance(tag, tuple):
            what, child = tag
            if child not in self.pool.children:
                return
            self._drain(child)
            if what == "exit":
                self._on_child_exit(child)

    # -- claiming ------------------------------------------------------------------------------

    def _claim_if_ready(self, now: float) -> None:
        # A claim may be on its way back with the outcomes being written.
        if self.stopping or self.outcomes.busy or not self.pool.free_slots():
            return
        if not self.pacing.due(now):
            return
        claim = self._claim_request()
        if claim is None:
            return
        records = self.store.job_claim(self.worker_id, claim)
        self._started(records, claim, time.monotonic())  # the claim may have waited

    def _claim_request(self) -> ClaimRequest | None:
        free = self.pool.free_slots()
        if self.config.max_jobs is not None:  # hold no job that --max-jobs would leave unrun
            free = min(free, self.config.max_jobs - self.finished_jobs - len(self.books.running))
        if self.stopping or free <= 0:
            return None
        return ClaimRequest(
            self.config.queues, free, self.config.lease, time.time(), self.config.tries or 1
        )

    def _started(self, records: list[JobRecord], claim: ClaimRequest, now: float) -> None:
        """Hand claimed jobs to children, one message per child."""
        self.pacing.claimed(len(records), claim.limit, now)
        if not records:
            return
        if (late := time.time() - claim.now) > claim.lease_seconds - self.config.heartbeat_interval:
            # Stalled (paused) between claim and hand-over: the leases run out before the next
            # heartbeat, if another worker has not rescued the jobs already. Put them back.
            log.warning("%d jobs put back: claimed %.1fs ago, near their lease", len(records), late)
            self.writes.release([Lease(record.id, record.attempts) for record in records])
            return
        batches: dict[Child, list[dict[str, Any]]] = {}
        for record in records:
            child, wire = self._start(record, now)
            batches.setdefault(child, []).append(wire)
        for child, jobs in batches.items():
            try:
                protocol.send(child.conn, {"op": "run", "jobs": jobs})
            except OSError:  # it died meanwhile (seen soon): they never reached it
                self._abandon(self.books.of([(job["id"], job["attempt"]) for job in jobs]))

    def _start(self, record: JobRecord, now: float) -> tuple[Child, dict[str, Any]]:
        """Give the job to the child with most room; return it and the job's message."""
        child = max(self.pool.children, key=lambda c: c.free)
        timeout = record.timeout if record.timeout is not None else self.config.timeout
        task = self.app.tasks.get(record.task)
        backstop = ASYNC_TIMEOUT_BACKSTOP if task is not None and task.is_async else 0.0
        if record.attempts > 1 and (older := self.books.superseded(record)) is not None:
            self._lose(older, now)
        self.books.add(record, child, timeout, backstop, now)
        return child, protocol.job_to_wire(record, timeout)

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
            self.pool.ready(child)
            self.pacing.maybe_work = True
        elif op == "progress":
            for wire in message["writes"]:
                write = protocol.progress_from_wire(wire)
                if self.books.live(key := key_of(write.lease)):
                    self.writes.add_progress(key, write)
        elif op == "checkpoint":
            self._on_checkpoint(child, protocol.progress_from_wire(message["write"]))
        elif op == "withdrawn":
            self._abandon(self.books.of([(job_id, attempt) for job_id, attempt in message["jobs"]]))
        elif op == "done":
            for done in message["jobs"]:
                self._on_done(done)
            self.books.begin_queued(child, time.monotonic())
            self.pool.check_memory(child, message["rss"])

    def _on_checkpoint(self, child: Child, write: ProgressWrite) -> None:
        answer = protocol.saved_answer(child.conn, key := key_of(write.lease))
        if self.books.live(key):
            self.writes.add_checkpoint(key, write, answer)
        else:  # its lease is gone: the store would refuse it
            refuse_checkpoint(write, answer)

    def _on_done(self, message: dict[str, Any]) -> None:
        running = self.books.running.get((message["id"], message["attempt"]))
        if running is None:
            return
        progress = self.writes.take_progress(running.key)
        if message["progress"] is not None:
            final = protocol.progress_from_wire(message["progress"])
            progress = merge_progress(progress, final)
        self._end(running, message["kind"], message, progress)
        self.pacing.last_busy = time.monotonic()

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
        self.books.remove(running)
        self.pool.retire_if_idle(running.child)

    # -- the jobs of a child that ends ---------------------------------------------------------

    def _on_child_exit(self, child: Child) -> None:
        ended = self.pool.reap(child, self.stopping)
        waiting = self.books.of(child.queued)
        if waiting:  # never started: back to pending, no attempt charged
            self._abandon(waiting)
        jobs = self.books.of(child.jobs)
        code = ended.code
        if jobs and ended.unexpected:
            log.error(
                "child %d exited unexpectedly (code %s) with %d jobs", child.pid, code, len(jobs)
            )
            for running in jobs:
                detail = {"error": f"WorkerCrashed: the worker process exited with code {code}"}
                self._end(running, "error", detail, self.writes.take_progress(running.key))
        if ended.give_up:
            self.exit_code = 1
            self._begin_stop(time.monotonic())
        elif not self.stopping:
            self.pool.add()

    def _kill_child(self, child: Child, spare: Running | None = None) -> None:
        """Kill a child whose job cannot be stopped otherwise; its other jobs go back to pending
        uncharged."""
        self._drain(child)
        others = [running for running in self.books.of(child.jobs) if running is not spare]
        self.pool.kill(child)
        self._abandon(others)
        self._on_child_exit(child)

    def _abandon(self, jobs: list[Running]) -> None:
        """Put jobs back to pending without charging the attempt, keeping their progress."""
        live = [r for r in jobs if not r.lost]
        writes = [w for r in live if (w := self.writes.take_progress(r.key)) is not None]
        self.writes.release([r.lease for r in live], writes)
        for running in jobs:
            log.info("%s put back to pending", running.label)
            self._forget(running)

    # -- time-outs, cancels, maintenance -------------------------------------------------------

    def _enforce_deadlines(self, now: float) -> None:
        for running in list(self.books.running.values()):
            if running.key not in self.books.running:
                continue  # ended with a sibling killed earlier in this loop
            if running.deadline is not None and now >= running.deadline and not running.lost:
                log.warning(
                    "%s timed out after %g s; killing its process", running.label, running.timeout
                )
                detail = {"error": f"TimeoutError: timed out after {running.timeout:g} s"}
                self._end(running, "error", detail, self.writes.take_progress(running.key))
                self._kill_child(running.child, spare=running)
            elif running.stop_by is not None and now >= running.stop_by:
                log.warning("%s ignored its cancel; killing its process", running.label)
                self._end(running, "cancelled", {}, None)
                self._kill_child(running.child, spare=running)

    def _after_maintenance(self, report: Report) -> None:
        """Act on what a maintenance pass found, then raise what cut the pass short, if any."""
        now = time.monotonic()  # the pass may have waited on the store
        for running in report.lost:
            self._lose(running, now)
        if report.freed:
            self.pacing.maybe_work = True
        if report.stop:
            self._begin_stop(now)
        if report.error is not None:
            raise report.error

    def _lose(self, running: Running, now: float) -> None:
        running.lost = True
        running.stop_by = now + self.config.grace
        self.writes.drop(running.key)
        cancel = {"op": "cancel", "id": running.lease.job_id, "attempt": running.lease.attempt}
        with contextlib.suppress(OSError):
            protocol.send(running.child.conn, cancel)
