"""One watcher per followed job per server process, shared by every event stream of that job.

A thousand streams of a hundred jobs cost the store what a hundred would: the hub asks the store
which jobs changed (PostgreSQL NOTIFY carries their ids; on SQLite a change counter says whether
anything did), re-reads only those, and from their last entry and output offset on, never whole.
It asks every poll interval, and on PostgreSQL also as soon as a notification arrives.
Claims and rescues send no notification, so a pending job is re-read every PENDING_RECHECK
seconds and every other job every FULL_RECHECK seconds, whatever was notified.

The hub lives on the server's event loop; every store call runs on one thread of its own (the
SQLite change counter is a property of that thread's connection), in batches.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..model import Status

if TYPE_CHECKING:
    from ..app import Underway

log = logging.getLogger("underway.web")

MIN_GAP = 0.05  # seconds between two rounds of reads, however often the store signals
PENDING_RECHECK = 1.0
FULL_RECHECK = 10.0

T = TypeVar("T")


@dataclass
class Followed:
    """What this process knows of one followed job. head is its status document without results
    and errors, which are kept in full beside it; gone: deleted (or never there)."""

    job_id: str
    head: dict[str, Any] = field(default_factory=dict)
    results: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    output: str = ""
    last_seq: int = 0
    gone: bool = False
    read_at: float = 0.0
    version: int = 0
    watchers: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Messages built for this version, by what their client held: streams that follow the job
    # in step (most of them) share one encoding rather than each building its own.
    messages: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    @property
    def read(self) -> bool:
        return self.gone or bool(self.head)

    @property
    def finished(self) -> bool:
        return bool(self.head) and Status(self.head["status"]).finished

    def document(self) -> dict[str, Any]:
        return {**self.head, "results": list(self.results), "errors": list(self.errors)}

    def bump(self) -> None:
        """Wake every stream waiting on this job."""
        self.version += 1
        self.messages.clear()
        woken, self.changed = self.changed, asyncio.Event()
        woken.set()


@dataclass(frozen=True, slots=True)
class Reading:
    """A job as one store read found it past a watcher's cursor (None document: gone)."""

    document: dict[str, Any] | None
    last_seq: int = 0
    output: str = ""


class StoreReads:
    """Store reads made for the hub, for /metrics; counted on the hub's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.count += n


class Hub:
    def __init__(self, app: Underway, interval: float) -> None:
        self.app = app
        self.interval = interval
        self.reads = StoreReads()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="underway-hub")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._followed: dict[str, Followed] = {}
        self._refreshing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def jobs_followed(self) -> int:
        return len(self._followed)

    @property
    def streams(self) -> int:
        return sum(state.watchers for state in self._followed.values())

    @asynccontextmanager
    async def follow(self, job_id: str) -> AsyncIterator[Followed]:
        """The job's shared state, read at least once, kept up to date while in use."""
        self._bind_to_running_loop()
        state = self._followed.setdefault(job_id, Followed(job_id))
        state.watchers += 1
        try:
            if not state.read:
                await self._refresh([state])
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._run())
            yield state
        finally:
            state.watchers -= 1
            if state.watchers == 0 and self._followed.get(job_id) is state:
                del self._followed[job_id]

    def _bind_to_running_loop(self) -> None:
        # A server has one loop for its life; a test client may run each request on its own.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._followed, self._task = loop, {}, None
            self._refreshing = asyncio.Lock()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due_at = loop.time()
        while self._followed:
            # At a fixed rate, whatever each round took; sooner when the store signals (a
            # PostgreSQL NOTIFY), but never two rounds closer than MIN_GAP.
            due_at = max(due_at + self.interval, loop.time())
            await self._wait(due_at)
            await asyncio.sleep(max(0.0, due_at - self.interval + MIN_GAP - loop.time()))
            due_at = loop.time()
            try:
                changed = await self._call(self.app.store.watch_changes)
                now = time.monotonic()
                due = [s for s in list(self._followed.values()) if _due(s, changed, now)]
                if due:
                    await self._refresh(due)
            except Exception as exc:  # an outage: streams wait, and the next tick tries again
                log.warning("event streams could not read the store: %s", exc)

    async def _wait(self, until: float) -> None:
        """Until then, or until the store's descriptor turns readable (a notification)."""
        loop = asyncio.get_running_loop()
        fd = await self._call(self.app.store.watch_wake_fd)
        if fd is None:
            await asyncio.sleep(max(0.0, until - loop.time()))
            return
        signalled = asyncio.Event()
        loop.add_reader(fd, signalled.set)
        try:
            await asyncio.wait_for(signalled.wait(), max(0.0, until - loop.time()))
        except TimeoutError:
            pass
        finally:
            loop.remove_reader(fd)

    async def _refresh(self, states: Sequence[Followed]) -> None:
        async with self._refreshing:
            cursors = [(s.job_id, s.last_seq, len(s.output)) for s in states]
            readings = await self._call(lambda: self._read(cursors))
            now = time.monotonic()
            for state, reading in zip(states, readings, strict=True):
                state.read_at = now
                if _apply(state, reading):
                    state.bump()

    async def _call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _read(self, cursors: Sequence[tuple[str, int, int]]) -> list[Reading]:
        """On the hub's thread: each job past its cursor (job id, entry seq, output held), in
        one read, and the output of those that have more."""
        store = self.app.store
        found = store.jobs_since([(job_id, after_seq) for job_id, after_seq, _ in cursors])
        self.reads.add()
        readings = []
        for job_id, _, output_held in cursors:
            changes = found.get(job_id)
            if changes is None:
                readings.append(Reading(None))
                continue
            record, output = changes.record, ""
            if record.output_length > output_held:
                more = store.job_output(job_id, output_held, record.output_length - output_held)
                self.reads.add()
                output = more[0] if more is not None else ""
            readings.append(Reading(self.app.document_of(record), changes.last_seq, output))
        return readings


def _due(state: Followed, changed: set[str] | None, now: float) -> bool:
    if state.gone or state.finished:
        return False
    if changed is None or state.job_id in changed:
        return True
    every = PENDING_RECHECK if state.head.get("status") == Status.PENDING else FULL_RECHECK
    return now - state.read_at >= every


def _apply(state: Followed, reading: Reading) -> bool:
    """Fold a reading into the state; True when anything a stream shows changed."""
    document = reading.document
    if document is None:
        state.gone = True
        return True
    new_results, new_errors = document.pop("results"), document.pop("errors")
    changed = bool(new_results or new_errors or reading.output) or document != state.head
    state.head = document
    state.results.extend(new_results)
    state.errors.extend(new_errors)
    state.output += reading.output
    state.last_seq = reading.last_seq
    return changed
