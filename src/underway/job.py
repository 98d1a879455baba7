"""Job: the context a running task receives (progress, results, usage, checkpoint, cancel)."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from . import codec
from .errors import OutputTooLarge, UnderwayError
from .model import JobRecord, Lease, ProgressWrite

# Characters of live output (job.stream) one job may hold, over all its attempts.
OUTPUT_LIMIT = 1_000_000
# The rate is measured over the last RATE_SNAPSHOTS snapshots of (time, processed), taken at
# most one per RATE_SNAPSHOT_SECONDS as progress is sent: about the last half minute.
RATE_SNAPSHOTS = 30
RATE_SNAPSHOT_SECONDS = 1.0
# What not every database can store as text: NUL, and lone surrogates (not UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JobLost(UnderwayError):
    """This attempt no longer holds its job (cancelled, or taken over after a lost lease)."""


CheckpointSaver = Callable[["Job", ProgressWrite], bool]


class Job:
    """Handed to a task whose first parameter is annotated `Job`.

    Progress calls only change memory and are cheap; the worker sends what changed at most once
    per progress interval, and with the job's outcome. save_checkpoint() is the exception: it
    returns once the checkpoint, with the progress and results so far, is stored. Each write
    also carries the rate, items per second over about the last half minute of this attempt,
    measured as progress is sent (so advance() stays a plain addition).

    Owned by the task that runs it; the worker's flusher reads it from another thread, so the
    lists of new entries and output are swapped under a lock.
    """

    def __init__(
        self,
        job_id: str = "detached",
        attempt: int = 1,
        *,
        total: int | None = None,
        processed: int = 0,
        current: str | None = None,
        usage: dict[str, float] | None = None,
        checkpoint: Any = None,
        saver: CheckpointSaver | None = None,
        output_length: int = 0,
    ) -> None:
        self.id = job_id
        self.attempt = attempt
        self.total = total
        self.processed = processed
        self.current = current
        self.usage: dict[str, float] = dict(usage or {})
        self.results: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._checkpoint = checkpoint
        self._saver = saver
        self._lock = threading.Lock()
        self._sent_results = 0
        self._sent_errors = 0
        self._dirty = False
        self._cancelled = threading.Event()
        # Characters of output so far: stored by earlier attempts, or streamed by this one.
        self.output_length = output_length
        self._output: list[str] = []
        self._snapshots = deque([(time.monotonic(), processed)], maxlen=RATE_SNAPSHOTS)
        self._rate_measured = False

    @classmethod
    def resuming(cls, record: JobRecord, saver: CheckpointSaver | None) -> Job:
        """The context for a claimed job: its progress, usage, checkpoint and the length of its
        output carry over."""
        return cls(
            record.id,
            record.attempts,
            total=record.progress_total,
            processed=record.progress_processed,
            current=record.progress_current,
            usage=record.usage,
            checkpoint=record.checkpoint,
            saver=saver,
            output_length=record.output_length,
        )

    # -- progress ------------------------------------------------------------------------------

    def progress(
        self, total: int | None = None, processed: int | None = None, current: str | None = None
    ) -> None:
        """Set any of total, processed and the current item."""
        if total is not None:
            self.total = total
        if processed is not None:
            self.processed = processed
        if current is not None:
            self.current = current
        self._dirty = True

    def advance(self, n: int = 1, current: str | None = None) -> None:
        """Count n more items processed, optionally naming the item now at hand."""
        self.processed += n
        if current is not None:
            self.current = current
        self._dirty = True

    def add_result(self, result: dict[str, Any]) -> None:
        """Append one item's result, e.g. {"item": 12, "success": True, "message": "fixed"}."""
        if not isinstance(result, dict):
            raise TypeError(f"add_result takes a dict, got {type(result).__name__}")
        codec.dumps(result)
        with self._lock:
            self.results.append(result)
        self._dirty = True

    def add_error(self, message: str) -> None:
        with self._lock:
            self.errors.append(str(message))
        self._dirty = True

    def stream(self, text: str) -> None:
        """Append text to the job's live output, to be read while the job runs (its event
        stream, GET /api/jobs/{id}/output, Underway.output). Cheap: it only changes memory; the
        text goes with the next progress write, as results do.

        The output is append-only across attempts: a retried task's output follows what its
        earlier attempts wrote (say so in the text if it matters). NUL and lone surrogates,
        which not every database stores as text, become U+FFFD, one character for one, so
        offsets are unchanged. A job holds at most OUTPUT_LIMIT characters over all attempts:
        text that would pass it raises OutputTooLarge, and none of that text is kept."""
        if not isinstance(text, str):
            raise TypeError(f"stream takes a str, got {type(text).__name__}")
        if not text:
            return
        if "\0" in text or not text.isascii():
            text = _UNSTORABLE.sub("\ufffd", text)
        with self._lock:
            if self.output_length + len(text) > OUTPUT_LIMIT:
                raise OutputTooLarge(
                    f"job {self.id}: {len(text):,} more characters of output would pass the "
                    f"limit of {OUTPUT_LIMIT:,} a job may hold (it has {self.output_length:,}); "
                    "none of them were kept"
                )
            self._output.append(text)
            self.output_length += len(text)
        self._dirty = True

    def add_usage(self, **numbers: float) -> None:
        """Add to per-key totals such as tokens= or cost=; summed across attempts."""
        for key, value in numbers.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TypeError(f"add_usage({key}=...) takes a number, got {type(value).__name__}")
            self.usage[key] = self.usage.get(key, 0) + value
        self._dirty = True

    # -- checkpoint and cancel -----------------------------------------------------------------

    @property
    def checkpoint(self) -> Any:
        """The last value given to save_checkpoint, in this attempt or an earlier one."""
        return self._checkpoint

    def save_checkpoint(self, value: Any) -> None:
        """Store a JSON value to resume from after a retry or crash; durable once this returns."""
        codec.dumps(value)
        self._checkpoint = value
        if self._saver is None:
            return
        write = self.take_progress(force=True)
        assert write is not None
        write.checkpoint = value
        write.has_checkpoint = True
        if not self._saver(self, write):
            self._cancelled.set()
            raise JobLost(f"job {self.id} attempt {self.attempt} no longer holds its job; stopping")

    @property
    def cancelled(self) -> bool:
        """True once a cancel was asked for: a long task should check it and return early."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    # -- for the worker ------------------------------------------------------------------------

    def take_progress(self, force: bool = False) -> ProgressWrite | None:
        """What changed since the last call, as a write to send; None when nothing did."""
        if not (self._dirty or force):
            return None
        self._dirty = False
        with self._lock:
            results = self.results[self._sent_results :]
            errors = self.errors[self._sent_errors :]
            self._sent_results = len(self.results)
            self._sent_errors = len(self.errors)
            output, self._output = "".join(self._output), []
            rate = self._measure_rate()
        return ProgressWrite(
            lease=Lease(self.id, self.attempt),
            total=self.total,
            processed=self.processed,
            current=self.current,
            usage=dict(self.usage),
            results=results,
            errors=errors,
            output=output,
            rate=rate,
        )

    def _measure_rate(self) -> float | None:
        """Items per second from the oldest snapshot kept to now; None until the window spans
        a second in which items were processed. Takes a snapshot at most once a second."""
        now, processed = time.monotonic(), self.processed
        snapshots = self._snapshots
        if processed < snapshots[-1][1]:  # counted again from lower down: start a new window
            snapshots.clear()
        if not snapshots or now - snapshots[-1][0] >= RATE_SNAPSHOT_SECONDS:
            snapshots.append((now, processed))
        since, processed_then = snapshots[0]
        span, done = now - since, processed - processed_then
        if span < RATE_SNAPSHOT_SECONDS or (done <= 0 and not self._rate_measured):
            return None
        self._rate_measured = True
        return done / span
