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
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from ..app import Underway
from ..ids import new_job_id
from ..model import JobRecord, Status
from ..states import after_error
from ..store.base import Lease, Outcome, ProgressWrite, WorkerInfo
from . import protocol
from .config import ASYNC_TIMEOUT_BACKSTOP, IDLE_TICK, WorkerConfig
from .pool import Child, start_child

log = logging.getLogger("underway.worker")


@dataclass(eq=False)
class Running:
    record: JobRecord
    lease: Lease
    child: Child
    started: float
    timeout: float | None
    deadline: float | None
    lost: bool = False
    stop_by: float | None = None

    @property
    def label(self) -> str:
        return f"{self.record.task}[{self.record.id}]"


class Supervisor:
    def __init__(self, app: Underway, config: WorkerConfig) -> None:
        self.app = app
        self.store = app.store
        self.config = config
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{new_job_id()[-6:]}"
        self.children: list[Child] = []
        self.running: dict[str, Running] = {}
        self.progress: dict[str, ProgressWrite] = {}
        self.checkpoints: list[tuple[Child, ProgressWrite]] = []
        self.outcomes: list[tuple[Running, Outcome]] = []
        self.stopping = False
        self.grace_deadline = 0.0
        self.exit_code = 0
        self.finished_jobs = 0
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.maybe_work = True
        self.last_claim_empty = False
        now = self.started
        self.next_poll = now
        self.next_flush = now + config.progress_interval
        self.next_heartbeat = now
        self.next_rescue = now

    # -- life cycle ----------------------------------------------------------------------------

    def run(self) -> int:
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        previous_fd = signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
        handlers = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        self.wake_read = wake_read
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
            self.children = [start_child(self.config) for _ in range(self.config.processes)]
            self._loop()
        finally:
            self._shutdown()
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            wake_read.close()
            wake_write.close()
        return self.exit_code

    def _on_signal(self, signum: int, _frame: Any) -> None:
        now = time.monotonic()
        if self.stopping:
            log.warning("second %s: stopping now", signal.Signals(signum).name)
            self.grace_deadline = now
            return
        log.info(
            "%s: finishing %d running jobs (up to %gs), then exiting",
            signal.Signals(signum).name,
            len(self.running),
            self.config.grace,
        )
        self._begin_stop(now)

    def _begin_stop(self, now: float) -> None:
        if not self.stopping:
            self.stopping = True
            self.grace_deadline = now + self.config.grace

    def _shutdown(self) -> None:
        if self.running:
            # Kill first: a job must not finish in a child after it went back to pending.
            for child in self.children:
                child.kill()
            self._abandon(list(self.running.values()))
        self._flush_writes()
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
            if self._should_claim(now):
                self._claim(now)
            if self.config.burst and self.last_claim_empty and not self.running:
                log.info("burst: no job is ready; exiting")
                return
            ready = wait(self._waitables(), self._timeout(time.monotonic()))
            for item in ready:
                self._on_ready(item)
            now = time.monotonic()
            self._enforce_deadlines(now)
            self._flush(now)
            self._periodic(now)

    def _waitables(self) -> list[Any]:
        items: list[Any] = [self.wake_read]
        for child in self.children:
            items.append(child.process.sentinel)
            if not child.conn.closed:
                items.append(child.conn)
        fd = self.store.work_wake_fd()
        if fd is not None:
            items.append(fd)
        return items

    def _timeout(self, now: float) -> float:
        moments = [self.next_heartbeat, self.next_rescue]
        if self.progress:
            moments.append(self.next_flush)
        if self._free_slots() and not self.stopping:
            moments.append(self.next_poll)
            if self.store.work_wake_fd() is None:
                moments.append(now + IDLE_TICK)
        moments.extend(r.deadline for r in self.running.values() if r.deadline is not None)
        moments.extend(r.stop_by for r in self.running.values() if r.stop_by is not None)
        if self.stopping:
            moments.append(self.grace_deadline)
        return max(0.0, min(moments) - now)

    def _on_ready(self, item: Any) -> None:
        if item is self.wake_read:
            try:
                while self.wake_read.recv(512):
                    pass
            except BlockingIOError:
                pass
            return
        if isinstance(item, int) and item == self.store.work_wake_fd():
            self.maybe_work = self.store.work_changed() or self.maybe_work
            return
        for child in list(self.children):
            if item is child.conn:
                self._drain(child)
            elif item == child.process.sentinel:
                self._drain(child)
                self._on_child_exit(child)

    # -- claiming ------------------------------------------------------------------------------

    def _free_slots(self) -> int:
        return sum(child.free for child in self.children)

    def _should_claim(self, now: float) -> bool:
        if self.stopping or not self._free_slots():
            return False
        if self.store.work_wake_fd() is None and self.store.work_changed():
            self.maybe_work = True
        return self.maybe_work or now >= self.next_poll

    def _claim(self, now: float) -> None:
        free = self._free_slots()
        records = self.store.job_claim(
            self.worker_id,
            queues=self.config.queues,
            limit=free,
            lease_seconds=self.config.lease,
            now=time.time(),
        )
        self.maybe_work = len(records) == free
        self.last_claim_empty = not records
        self.next_poll = now + self.config.sleep
        for record in records:
            self._start(record, now)

    def _start(self, record: JobRecord, now: float) -> None:
        child = max(self.children, key=lambda c: c.free)
        timeout = record.timeout if record.timeout is not None else self.config.timeout
        task = self.app.tasks.get(record.task)
        backstop = ASYNC_TIMEOUT_BACKSTOP if task is not None and task.is_async else 0.0
        running = Running(
            record,
            Lease(record.id, record.attempts),
            child,
            now,
            timeout,
            None if timeout is None else now + timeout + backstop,
        )
        self.running[record.id] = running
        child.jobs.add(record.id)
        log.info("%s started (attempt %d/%d)", running.label, record.attempts, record.max_attempts)
        protocol.send(
            child.conn,
            {
                "op": "run",
                "job": {
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
                },
            },
        )

    # -- messages from children ----------------------------------------------------------------

    def _drain(self, child: Child) -> None:
        try:
            while not child.conn.closed and child.conn.poll():
                self._on_message(child, protocol.receive(child.conn))
        except (EOFError, OSError):
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
            self.checkpoints.append(
                (child, protocol.merge_progress(self.progress.pop(write.lease.job_id, None), write))
            )
        elif op == "done":
            self._on_done(child, message)

    def _merge_progress(self, write: ProgressWrite) -> None:
        running = self.running.get(write.lease.job_id)
        if running is None or running.lost or running.lease != write.lease:
            return
        job_id = write.lease.job_id
        self.progress[job_id] = protocol.merge_progress(self.progress.get(job_id), write)

    def _on_done(self, child: Child, message: dict[str, Any]) -> None:
        running = self.running.get(message["id"])
        if running is None or running.lease.attempt != message["attempt"]:
            return
        final = protocol.progress_from_wire(message["progress"])
        progress = protocol.merge_progress(self.progress.pop(running.record.id, None), final)
        self._end(running, message["kind"], message, progress)
        limit = self.config.memory_mb
        if limit is not None and message["rss"] > limit * 1024 * 1024 and not child.retiring:
            log.warning(
                "child %d uses %.0f MB, over --memory %g MB: replacing it after its jobs",
                child.pid,
                message["rss"] / 1048576,
                limit,
            )
            child.retiring = True
            self._retire_if_idle(child)

    def _end(
        self, running: Running, kind: str, detail: dict[str, Any], progress: ProgressWrite | None
    ) -> None:
        """Turn how an attempt ended into an outcome to write, and log it."""
        self._forget(running)
        self.finished_jobs += 1
        elapsed = time.monotonic() - running.started
        if running.lost:
            log.warning("%s ended after its lease was lost; its outcome is dropped", running.label)
            return
        now = time.time()
        record = running.record
        retry_at = None
        if kind == "completed":
            status = Status.COMPLETED
            log.info("%s completed in %.2fs", running.label, elapsed)
        elif kind == "cancelled":
            status = Status.CANCELLED
            log.info("%s cancelled after %.2fs", running.label, elapsed)
        else:
            tries = max(record.max_attempts, self.config.tries or 0)
            status, retry_at = after_error(
                running.lease.attempt, tries, record.backoff, now, detail.get("retryable", True)
            )
            then = (
                f"retry {running.lease.attempt + 1}/{tries} in {retry_at - now:.1f}s"
                if retry_at is not None
                else "failed for good"
            )
            log.warning("%s failed in %.2fs: %s; %s", running.label, elapsed, detail["error"], then)
        outcome = Outcome(
            running.lease,
            status,
            now,
            result=detail.get("result"),
            error=detail.get("error"),
            traceback=detail.get("traceback"),
            retry_at=retry_at,
            progress=progress,
        )
        self.outcomes.append((running, outcome))
        if self.config.max_jobs is not None and self.finished_jobs >= self.config.max_jobs:
            self._begin_stop(time.monotonic())

    def _forget(self, running: Running) -> None:
        self.running.pop(running.record.id, None)
        running.child.jobs.discard(running.record.id)
        self._retire_if_idle(running.child)

    # -- children ------------------------------------------------------------------------------

    def _retire_if_idle(self, child: Child) -> None:
        if child.retiring and not child.jobs and not child.killed:
            try:
                protocol.send(child.conn, {"op": "stop"})
            except OSError:
                child.kill()

    def _on_child_exit(self, child: Child) -> None:
        child.process.join(1)
        if child in self.children:
            self.children.remove(child)
        if not child.conn.closed:
            child.conn.close()
        jobs = [self.running[job_id] for job_id in list(child.jobs)]
        if jobs and not child.killed:
            code = child.process.exitcode
            log.error(
                "child %d exited unexpectedly (code %s) with %d jobs", child.pid, code, len(jobs)
            )
            for running in jobs:
                detail = {"error": f"WorkerCrashed: the worker process exited with code {code}"}
                self._end(running, "error", detail, self.progress.pop(running.record.id, None))
        if not child.ready and not child.killed and not child.retiring:
            log.error(
                "child %d could not start (code %s); stopping", child.pid, child.process.exitcode
            )
            self.exit_code = 1
            self._begin_stop(time.monotonic())
            return
        if not self.stopping:
            self.children.append(start_child(self.config))

    def _kill_child(self, child: Child, spare: Running | None = None) -> None:
        """Kill a child whose job cannot be stopped otherwise; its other jobs go back to pending
        uncharged."""
        others = [self.running[j] for j in child.jobs if spare is None or j != spare.record.id]
        child.kill()
        self._abandon(others)
        self._on_child_exit(child)

    def _abandon(self, jobs: list[Running]) -> None:
        """Put jobs back to pending without charging the attempt, keeping their progress."""
        live = [r for r in jobs if not r.lost]
        writes = [self.progress.pop(r.record.id) for r in live if r.record.id in self.progress]
        self.store.job_write_progress(self.worker_id, writes)
        self.store.job_release(self.worker_id, [r.lease for r in live], time.time())
        for running in jobs:
            log.info("%s put back to pending", running.label)
            self._forget(running)

    # -- time-outs, cancels, periodic work -----------------------------------------------------

    def _enforce_deadlines(self, now: float) -> None:
        for running in list(self.running.values()):
            if running.record.id not in self.running:
                continue
            if running.deadline is not None and now >= running.deadline and not running.lost:
                log.warning(
                    "%s timed out after %gs; killing its process", running.label, running.timeout
                )
                detail = {"error": f"TimeoutError: timed out after {running.timeout:g} s"}
                self._end(running, "error", detail, self.progress.pop(running.record.id, None))
                self._kill_child(running.child, spare=running)
            elif running.stop_by is not None and now >= running.stop_by:
                log.warning("%s ignored its cancel; killing its process", running.label)
                self._end(running, "cancelled", {}, None)
                self._kill_child(running.child, spare=running)

    def _periodic(self, now: float) -> None:
        if now >= self.next_heartbeat:
            self._heartbeat(now)
        if now >= self.next_rescue:
            self.next_rescue = now + self.config.rescue_interval
            for job_id, status in self.store.lease_rescue(time.time()):
                log.warning("job %s lost its worker; now %s", job_id, status.value)
                self.maybe_work = True
        if self.config.max_time is not None and now - self.started >= self.config.max_time:
            self._begin_stop(now)

    def _heartbeat(self, now: float) -> None:
        self.next_heartbeat = now + self.config.heartbeat_interval
        live = [r for r in self.running.values() if not r.lost]
        held = self.store.job_heartbeat(
            self._info(), [r.lease for r in live], self.config.lease, time.time()
        )
        for running in live:
            if running.record.id not in held:
                self._lose(running, now)

    def _lose(self, running: Running, now: float) -> None:
        log.warning("%s was cancelled or taken over; stopping it", running.label)
        running.lost = True
        running.stop_by = now + self.config.grace
        self.progress.pop(running.record.id, None)
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

    # -- writes --------------------------------------------------------------------------------

    def _flush(self, now: float) -> None:
        if self.outcomes or self.checkpoints or (self.progress and now >= self.next_flush):
            self._flush_writes()
        if now >= self.next_flush:
            self.next_flush = now + self.config.progress_interval

    def _flush_writes(self) -> None:
        if self.checkpoints:
            checkpoints, self.checkpoints = self.checkpoints, []
            refused = set(
                self.store.job_write_progress(self.worker_id, [w for _, w in checkpoints])
            )
            for child, write in checkpoints:
                ok = write.lease.job_id not in refused
                with contextlib.suppress(OSError):
                    protocol.send(child.conn, {"op": "saved", "id": write.lease.job_id, "ok": ok})
        if self.progress:
            writes, self.progress = list(self.progress.values()), {}
            for job_id in self.store.job_write_progress(self.worker_id, writes):
                log.warning("job %s: progress write refused (lease lost)", job_id)
        if self.outcomes:
            outcomes, self.outcomes = self.outcomes, []
            refused = set(self.store.job_finish(self.worker_id, [o for _, o in outcomes]))
            for running, _ in outcomes:
                if running.record.id in refused:
                    log.warning(
                        "%s: outcome refused, the job was cancelled or taken over", running.label
                    )
            self.maybe_work = True
