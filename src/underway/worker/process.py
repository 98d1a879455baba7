"""Child entry point: runs the jobs the supervisor hands it, in C slots on one asyncio loop.

A child never touches the database. Async tasks run on the loop, plain ones in a thread pool so
the loop stays free to read the pipe, send progress and cancel. When the pipe to the supervisor
closes (the supervisor died), the child exits at once: its jobs are about to be rescued. Jobs are
known by attempt (protocol.Key): a child may run an old attempt of a job and the new one at once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

import psutil

from ..attempt import AttemptResult, run_async, unknown_task
from ..job import Job
from ..loader import load_app
from ..model import ProgressWrite
from ..tasks import Task
from . import protocol
from .protocol import Key
from .threads import TaskThreads

log = logging.getLogger("underway.worker")
CHECKPOINT_ACK_TIMEOUT = 120.0


def child_main(
    app_spec: str, conn: Connection, concurrency: int, progress_interval: float, watch_memory: bool
) -> None:
    # The supervisor decides when children stop; a terminal's Ctrl-C must not kill jobs mid-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    app = load_app(app_spec)
    runner = ChildRunner(app.tasks, conn, concurrency, progress_interval, watch_memory)
    asyncio.run(runner.run())


class ChildRunner:
    def __init__(
        self,
        tasks: dict[str, Task],
        conn: Connection,
        concurrency: int,
        progress_interval: float,
        watch_memory: bool = False,
    ) -> None:
        self.tasks = tasks
        self.conn = conn
        self.progress_interval = progress_interval
        self.concurrency = concurrency
        self.running: dict[Key, tuple[Job, asyncio.Task[None], Task | None]] = {}
        # Written by the task threads and the loop, read by the pipe reader thread.
        self.acks: dict[Key, tuple[threading.Event, list[bool]]] = {}
        self.send_lock = threading.Lock()
        self.stopping = False
        self.done: list[dict[str, Any]] = []  # outcomes not sent yet; the loop's own
        # Jobs handed over while every slot was busy, oldest first; the loop's own.
        self.queued: collections.OrderedDict[Key, dict[str, Any]] = collections.OrderedDict()
        # Reading the RSS opens a /proc file: only when the supervisor has a --memory limit.
        self.process = psutil.Process() if watch_memory else None

    def send(self, message: dict[str, Any]) -> None:
        with self.send_lock:
            protocol.send(self.conn, message)

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.threads = TaskThreads(self.loop, self.concurrency)
        self.finished = asyncio.Event()
        threading.Thread(target=self._read_pipe, name="underway-pipe", daemon=True).start()
        flusher = asyncio.create_task(self._flush_progress())
        self.send({"op": "ready", "pid": os.getpid()})
        await self.finished.wait()
        flusher.cancel()
        self.threads.stop()

    def _read_pipe(self) -> None:
        while True:
            try:
                message = protocol.receive(self.conn)
            except (EOFError, OSError):
                os._exit(0)
            if message["op"] == "saved":
                # Gone when the task gave up waiting; a KeyError would end this thread and leave
                # the child deaf to every later message.
                if waiting := self.acks.get((message["id"], message["attempt"])):
                    event, answer = waiting
                    answer.append(bool(message["ok"]))
                    event.set()
            else:
                self.loop.call_soon_threadsafe(self._on_message, message)

    def _on_message(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "run":
            for wire in message["jobs"]:
                if len(self.running) < self.concurrency:
                    self._start(wire)
                else:
                    self.queued[wire["id"], wire["attempt"]] = wire
        elif op == "cancel":
            self._cancel((message["id"], message["attempt"]))
        elif op == "withdraw":  # the worker is stopping: queued jobs go back unstarted
            keys, self.queued = list(self.queued), collections.OrderedDict()
            self.send({"op": "withdrawn", "jobs": keys})
        elif op == "stop":
            self.stopping = True
            if not self.running and not self.queued:
                self.finished.set()

    def _cancel(self, key: Key) -> None:
        if key in self.running:
            job, handle, task = self.running[key]
            job.cancel()
            if task is not None and task.is_async:
                handle.cancel()
        elif (wire := self.queued.pop(key, None)) is not None:
            self._report(wire["id"], wire["attempt"], AttemptResult("cancelled"), None)

    def _start(self, wire: dict[str, Any]) -> None:
        job = Job(
            wire["id"],
            wire["attempt"],
            total=wire["total"],
            processed=wire["processed"],
            current=wire["current"],
            usage=wire["usage"],
            checkpoint=wire["checkpoint"],
            saver=self._save_checkpoint,
            output_length=wire["output_length"],
        )
        task = self.tasks.get(wire["task"])
        key = (job.id, job.attempt)
        handle = asyncio.create_task(self._run(key, job, task, wire))
        self.running[key] = (job, handle, task)

    async def _run(self, key: Key, job: Job, task: Task | None, wire: dict[str, Any]) -> None:
        result: AttemptResult
        if task is None:
            result = unknown_task(wire["task"])
        else:
            try:
                result = await run_async(task, job, wire["args"], wire["timeout"], self.threads.run)
            except asyncio.CancelledError:
                result = AttemptResult("cancelled")
        self.running.pop(key, None)
        if self.queued:
            # The supervisor counts on this order: a freed slot takes the oldest queued job.
            _, wire = self.queued.popitem(last=False)
            self._start(wire)
        self._report(job.id, job.attempt, result, job.take_progress())

    def _report(
        self, job_id: str, attempt: int, result: AttemptResult, final: ProgressWrite | None
    ) -> None:
        self.done.append(
            {
                "id": job_id,
                "attempt": attempt,
                "kind": result.kind,
                "result": result.result,
                "error": result.error,
                "traceback": result.traceback,
                "retryable": result.retryable,
                "progress": None if final is None else protocol.progress_to_wire(final),
            }
        )
        if len(self.done) == 1:
            # Jobs that end in the same turn of the loop go back in one message.
            self.loop.call_soon(self._send_done)

    def _send_done(self) -> None:
        done, self.done = self.done, []
        rss = None if self.process is None else self.process.memory_info().rss
        self.send({"op": "done", "jobs": done, "rss": rss})
        if self.stopping and not self.running and not self.queued:
            self.finished.set()

    def _save_checkpoint(self, job: Job, write: ProgressWrite) -> bool:
        """Called from the task's thread (or the loop, for async tasks): blocks until stored."""
        event, answer = threading.Event(), list[bool]()
        key = (job.id, job.attempt)
        self.acks[key] = (event, answer)
        try:
            self.send({"op": "checkpoint", "write": protocol.progress_to_wire(write)})
            if not event.wait(CHECKPOINT_ACK_TIMEOUT):
                raise TimeoutError(f"job {job.id}: the supervisor did not store the checkpoint")
        finally:
            self.acks.pop(key, None)
        return answer[0]

    async def _flush_progress(self) -> None:
        while True:
            await asyncio.sleep(self.progress_interval)
            writes = [w for job, _, _ in self.running.values() if (w := job.take_progress())]
            if writes:
                self.send(
                    {"op": "progress", "writes": [protocol.progress_to_wire(w) for w in writes]}
                )
