"""How an attempt that ended in a child becomes an Outcome to store, and its log line."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ..model import JobRecord, Status
from ..states import after_error
from ..store.base import Lease, Outcome, ProgressWrite
from .pool import Child

log = logging.getLogger("underway.worker")


@dataclass(eq=False)
class Running:
    """A job the supervisor handed to a child. Owned by the supervisor's thread."""

    record: JobRecord
    lease: Lease
    child: Child
    started: float
    timeout: float | None  # None: no time-out
    deadline: float | None  # None: no time-out, or waiting in the child for a slot
    lost: bool = False
    stop_by: float | None = None
    backstop: float = 0.0  # added to the time-out before the supervisor kills the child

    @property
    def label(self) -> str:
        return f"{self.record.task}[{self.record.id}]"


def outcome_of(
    running: Running,
    kind: str,
    detail: dict[str, Any],
    progress: ProgressWrite | None,
) -> Outcome:
    """kind is completed, cancelled or error; detail carries result, error and traceback."""
    now = time.time()
    elapsed = time.monotonic() - running.started
    record = running.record
    retry_at = None
    if kind == "completed":
        status = Status.COMPLETED
        log.info("%s completed in %.2fs", running.label, elapsed)
    elif kind == "cancelled":
        status = Status.CANCELLED
        log.info("%s cancelled after %.2fs", running.label, elapsed)
    else:
        tries = record.max_attempts
        attempt = running.lease.attempt
        status, retry_at = after_error(
            attempt, tries, record.backoff, now, detail.get("retryable", True)
        )
        then = (
            f"retry {attempt + 1}/{tries} in {retry_at - now:.1f}s"
            if retry_at is not None
            else "failed for good"
        )
        log.warning("%s failed in %.2fs: %s; %s", running.label, elapsed, detail["error"], then)
    return Outcome(
        running.lease,
        status,
        now,
        result=detail.get("result"),
        error=detail.get("error"),
        traceback=detail.get("traceback"),
        retry_at=retry_at,
        progress=progress,
    )
