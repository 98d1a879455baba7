"""The worker's parent process and its only database client.

It claims jobs in batches of free slots, hands each to a child over a pipe, gathers progress and
outcomes from the children and writes them back in batches, renews all its leases with one
heartbeat, enforces time-outs and cancels, and replaces children that die, time out or grow too
large. All state here is owned by the one thread that runs Supervisor.run().
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from ..app import Underway
from ..errors import StoreUnavailable
from ..ids import new_job_id
from ..model import ClaimRequest, JobRecord, Lease, Outcome, ProgressWrite, merge_progress
from ..store.base import WorkerInfo
from . import logs, protocol
from .background import BackgroundCall
from .config import (
    AHEAD_BATCHES,
    AHEAD_BELOW_SECONDS,
    ASYNC_TIMEOUT_BACKSTOP,
    IDLE_BACKOFF_AFTER,
    IDLE_TICK,
    IDLE_TICK_MAX,
    OUTAGE_BACKOFF_MAX,
    OUTAGE_BACKOFF_MIN,
    WorkerConfig,
)
from .outcome import Running, outcome_of
from .pool import Child, start_child
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
        self.children: list[Child] = []
        self.running: dict[str, Running] = {}
        self.waiter = Waiter()
        now = time.monotonic()
        self.writes = WriteBuffer(self.store, self.worker_id, config.progress_interval, now)
        # Outcomes are written in the background, then the next claim, in one transaction.
        self.background = BackgroundCall(threaded=self.store.writes_wait_on_server)
        # The outcomes being written in the background, and the claim that goes with them.
        self.in_flight: tuple[list[tuple[str, Outcome]], ClaimRequest | None] = ([], None)
        self.stopping = False
        self.grace_deadline = 0.0
        self.exit_code = 0
        self.finished_jobs = 0
        self.job_seconds = AHEAD_BELOW_SECONDS  # a moving average of how long jobs take
        self.holding_ahead = False  # whether children may hold jobs beyond their slots
        self.started_wall = time.time()
        self.started = now
        self.maybe_work = True
        self.last_claim_empty = False
        self.last_busy = now
        self.next_poll = now
        self.next_heartbeat = now
        self.next_rescue = now
        self.work_fd: int | None = None
        self.outage_since: float | None = None
        self.outage_backoff = OUTAGE_BACKOFF_MIN
        self.store_retry_at = now

    # -- life cycle ----------------------------------------------------------------------------

    def run(self) -> int:
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        previous_fd = signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
        signals = (signal.SIGTERM, signal.SIGINT)
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in signals}
        self.wake_read = wake_read
        self.waiter.add(wake_read, WAKE)
        self.waiter.add(self.background, WRITTEN)
        try:
            self.store.schema_ensure()
            self._heartbeat(time.monotonic())
            log.info(
                "worker %s started: %d processes x %d slots, queues %s, database %s",
                self.worker_id,
                self.config.processes,
                self.config.concurrency,
                ", ".join(self.config.queues) or "all",
                self.store.url,
            )
            for _ in range(self.config.processes):
                self._add_child()
            self._loop()
        finally:
            self._shutdown()
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            self.waiter.close()
            self.background.close()
            wake_read.close()
            wake_write.close()
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
            for child in self.children:
                if child.queued:  # not started: they go back to pending (see "withdrawn")
                    with contextlib.suppress(OSError):
                        protocol.send(child.conn, {"op": "withdraw"})

    def _shutdown(self) -> None:
        if self.background.busy:
            self._on_written(time.monotonic())
        for child in list(self.children):
            self._drain(child)  # outcomes already sent must not be lost to the kill below
        if self.running:
            # Kill first: a job must not finish in a child after it went back to pending.
            for child in self.children:
                child.kill()
            self._abandon(list(self.running.values()))
        self._guard(lambda _now: self.writes.flush(), time.monotonic())
        for child in self.children:
            if child.process.is_alive() and not child.killed:
                with contextlib.suppress(OSError):
                    protocol.send(child.conn, {"op": "stop"})
        for child in self.children:
            child.process.join(2)
            child.kill()
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
            self._guard(self._claim_if_ready, now)
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
            self._guard(self._store_turn, now)

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
        self._periodic(now)

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
            self._outage(exc, now)
            return
        self._reachable(now)
        log_refused(batch, refused)
        if claim is None:
            self.maybe_work = True
        elif self.stopping:  # claimed while the stop began: never started, so not charged
            self._release([Lease(record.id, record.attempts) for record in claimed])
        else:
            self._started(claimed, claim.limit, now)

    def _guard(self, step: Callable[[float], Any], now: float) -> None:
        """Run a step that uses the database; during an outage, back off and keep everything."""
        if now < self.store_retry_at:
            return
        try:
            step(now)
        except StoreUnavailable as exc:
            self._outage(exc, now)
            return
        self._reachable(now)

    def _outage(self, exc: StoreUnavailable, now: float) -> None:
        if self.outage_since is None:
            self.outage_since = now
        log.warning("database unavailable (%s); retrying in %.1fs", exc, self.outage_backoff)
        self.store_retry_at = now + self.outage_backoff
        self.outage_backoff = min(OUTAGE_BACKOFF_MAX, self.outage_backoff * 2)

    def _reachable(self, now: float) -> None:
        if self.outage_since is not None:
            log.warning("database reachable again after %.1fs", now - self.outage_since)
            self.outage_since = None
            self.outage_backoff = OUTAGE_BACKOFF_MIN

    def _timeout(self, now: float) -> float:
        moments = [self.next_heartbeat, self.next_rescue]
        if self.outage_since is not None:
            moments = [self.store_retry_at]
        elif self.writes.checkpoints or (self.writes.outcomes and not self.background.busy):
            moments.append(now)
        elif (flush := self.writes.next_moment()) is not None:
            moments.append(flush)
        if self._free_slots() and not self.stopping:
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
            with contextlib.suppress(BlockingIOError):
                while self.wake_read.recv(512):
                    pass
        elif tag is WORK:
            self._guard(self._check_work, time.monotonic())
        elif isinstance(tag, tuple):
            what, child = tag
            if child not in self.children:
                return
            self._drain(child)
            if what == "exit":
                self._on_child_exit(child)

    def _check_work(self, _now: float) -> None:
        if self.store.work_changed():
            self.maybe_work = True

    # -- claiming ------------------------------------------------------------------------------

    def _free_slots(self) -> int:
        return sum(child.free for child in self.children)

    def _claim_if_ready(self, now: float) -> None:
        # A claim may be on its way back with the outcomes being written.
        if self.stopping or self.background.busy or not self._free_slots():
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
        free = self._free_slots()
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
        child = max(self.children, key=lambda c: c.free)
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
        return child, {
            "id": record.id,
            "attempt": record.attempts,
            "task": record.task,
            "args": record.args,
            "timeout": timeout,
            "total": record.progress_total,
            "processed": record.progress_processed,
            "current": record.progress_current,
            "usage": record.usage,
            "checkpoint": record.checkpoint,
        }

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

    def _hand_ahead(self, seconds: float) -> None:
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
            self.writes.add_checkpoint(write, self._answer_checkpoint(child, write.lease.job_id))
        elif op == "withdrawn":
            waiting = [self.running[i] for i in message["ids"] if i in self.running]
            self._abandon(waiting)
        elif op == "done":
            for done in message["jobs"]:
                self._on_done(done)
            self._begin_queued(child, time.monotonic())
            self._check_memory(child, message["rss"])

    def _answer_checkpoint(self, child: Child, job_id: str) -> Callable[[bool], None]:
        def answer(stored: bool) -> None:
            with contextlib.suppress(OSError):
                protocol.send(child.conn, {"op": "saved", "id": job_id, "ok": stored})

        return answer

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

    def _check_memory(self, child: Child, rss: int | None) -> None:
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
            self._retire_if_idle(child)

    def _end(
        self, running: Running, kind: str, detail: dict[str, Any], progress: ProgressWrite | None
    ) -> None:
        self._forget(running)
        self.finished_jobs += 1
        self._hand_ahead(time.monotonic() - running.started)
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
        self._retire_if_idle(child)

    # -- children ------------------------------------------------------------------------------

    def _add_child(self) -> None:
        child = start_child(self.config)
        self._set_ahead(child)
        self.children.append(child)
        self.waiter.add(child.conn, ("message", child))
        self.waiter.add(child.process.sentinel, ("exit", child))

    def _remove_child(self, child: Child) -> None:
        if child in self.children:
            self.children.remove(child)
        self.waiter.remove(child.conn)
        self.waiter.remove(child.process.sentinel)

    def _retire_if_idle(self, child: Child) -> None:
        if child.retiring and not child.jobs and not child.killed:
            try:
                protocol.send(child.conn, {"op": "stop"})
            except OSError:
                child.kill()

    def _on_child_exit(self, child: Child) -> None:
        self._remove_child(child)
        child.process.join(1)
        if not child.conn.closed:
            child.conn.close()
        waiting = [self.running[job_id] for job_id in child.queued if job_id in self.running]
        if waiting:  # never started: back to pending, no attempt charged
            self._abandon(waiting)
        jobs = [self.running[job_id] for job_id in list(child.jobs)]
        code = child.process.exitcode
        if jobs and not child.killed:
            log.error(
                "child %d exited unexpectedly (code %s) with %d jobs", child.pid, code, len(jobs)
            )
            for running in jobs:
                detail = {"error": f"WorkerCrashed: the worker process exited with code {code}"}
                self._end(running, "error", detail, self.writes.take_progress(running.record.id))
        if not child.ready and not child.killed and not child.retiring:
            log.error("child %d could not start (code %s); stopping", child.pid, code)
            self.exit_code = 1
            self._begin_stop(time.monotonic())
            return
        if not self.stopping:
            self._add_child()

    def _kill_child(self, child: Child, spare: Running | None = None) -> None:
        """Kill a child whose job cannot be stopped otherwise; its other jobs go back to pending
        uncharged."""
        self._drain(child)
        others = [self.running[j] for j in child.jobs if spare is None or j != spare.record.id]
        self._remove_child(child)
        child.kill()
        self._abandon(others)
        self._on_child_exit(child)

    def _abandon(self, jobs: list[Running]) -> None:
        """Put jobs back to pending without charging the attempt, keeping their progress."""
        live = [r for r in jobs if not r.lost]
        writes = [w for r in live if (w := self.writes.take_progress(r.record.id)) is not None]
        self._release([r.lease for r in live], writes)
        for running in jobs:
            log.info("%s put back to pending", running.label)
            self._forget(running)

    def _release(self, leases: list[Lease], progress: list[ProgressWrite] | None = None) -> None:
        """Put jobs back to pending without charging the attempt, their progress written first."""
        try:
            if progress:
                self.store.job_write_progress(self.worker_id, progress)
            self.store.job_release(self.worker_id, leases, time.time())
        except StoreUnavailable as exc:
            log.warning(
                "could not put %d jobs back (%s); their leases will run out", len(leases), exc
            )

    # -- time-outs, cancels, periodic work -----------------------------------------------------

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

    def _periodic(self, now: float) -> None:
        # Heartbeat before rescue: after an outage our own leases may have run out meanwhile.
        if now >= self.next_heartbeat:
            self._heartbeat(now)
        if now >= self.next_rescue:
            for job_id, status in self.store.lease_rescue(time.time()):
                log.warning("job %s lost its worker; now %s", job_id, status.value)
                self.maybe_work = True
            self.next_rescue = now + self.config.rescue_interval
        if self.config.max_time is not None and now - self.started >= self.config.max_time:
            self._begin_stop(now)

    def _heartbeat(self, now: float) -> None:
        live = [r for r in self.running.values() if not r.lost]
        held = self.store.job_heartbeat(
            self._info(), [r.lease for r in live], self.config.lease, time.time()
        )
        self.next_heartbeat = now + self.config.heartbeat_interval
        for running in live:
            if running.record.id not in held:
                self._lose(running, now)

    def _lose(self, running: Running, now: float) -> None:
        log.warning("%s was cancelled or taken over; stopping it", running.label)
        running.lost = True
        running.stop_by = now + self.config.grace
        self.writes.take_progress(running.record.id)
        with contextlib.suppress(OSError):
            protocol.send(running.child.conn, {"op": "cancel", "id": running.record.id})

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
