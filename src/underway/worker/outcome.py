"""How an attempt that ended in a child becomes an Outcome to store, and its log line."""

from __future__ import annotations

import logging
import time
from typing import Any

from ..attempt import AttemptResult, to_outcome
from ..model import Outcome, ProgressWrite
from .books import Running

log = logging.getLogger("underway.worker")


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
    attempt = AttemptResult(
        kind,
        detail.get("result"),
        detail.get("error"),
        detail.get("traceback"),
        detail.get("retryable", True),
    )
    outcome = to_outcome(
        running.lease,
        attempt,
        max_attempts=record.max_attempts,
        backoff=record.backoff,
        now=now,
        progress=progress,
    )
    if kind == "completed":
        log.info("%s completed in %.2fs", running.label, elapsed)
    elif kind == "cancelled":
        log.info("%s cancelled after %.2fs", running.label, elapsed)
    else:
        tries, number = record.max_attempts, running.lease.attempt
        then = (
            f"retry {number + 1}/{tries} in {outcome.retry_at - now:.1f}s"
            if outcome.retry_at is not None
            else "failed for good"
        )
        log.warning("%s failed in %.2fs: %s; %s", running.label, elapsed, attempt.error, then)
    return outcome
