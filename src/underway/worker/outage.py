"""Riding out a database outage: back off, keep everything, and say when it is over.

A step that uses the database runs through Outage.guard(); while the database is unreachable the
steps wait for the next retry, doubling the wait each time up to `backoff_max`: a third of the
lease (at most OUTAGE_BACKOFF_MAX), so that a worker whose database comes back heartbeats well
before its leases run out. Nothing is dropped meanwhile: the writes wait in the WriteBuffer. Each
failure is reported to `on_failure` (Maintenance: the worker did not see the store meanwhile).
Owned by the supervisor's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import StoreUnavailable
from .config import OUTAGE_BACKOFF_MAX, OUTAGE_BACKOFF_MIN

log = logging.getLogger("underway.worker")


class Outage:
    def __init__(
        self,
        now: float,
        backoff_max: float = OUTAGE_BACKOFF_MAX,
        on_failure: Callable[[], None] = lambda: None,
    ) -> None:
        self.since: float | None = None  # when the database became unreachable; None: it is not
        self.backoff_min = min(OUTAGE_BACKOFF_MIN, backoff_max)
        self.backoff_max = backoff_max
        self.backoff = self.backoff_min
        self.retry_at = now  # no step runs before this
        self.on_failure = on_failure

    def guard(self, step: Callable[[float], Any], now: float) -> None:
        """Run a step that uses the database; during an outage, back off and keep everything."""
        if now < self.retry_at:
            return
        try:
            step(now)
        except StoreUnavailable as exc:
            self.failed(exc, time.monotonic())  # the step may have waited: back off from now
            return
        self.reachable(now)

    def failed(self, exc: StoreUnavailable, now: float) -> None:
        self.on_failure()
        if self.since is None:
            self.since = now
        log.warning("database unavailable (%s); retrying in %.1fs", exc, self.backoff)
        self.retry_at = now + self.backoff
        self.backoff = min(self.backoff_max, self.backoff * 2)

    def reachable(self, now: float) -> None:
        if self.since is not None:
            log.warning("database reachable again after %.1fs", now - self.since)
            self.since = None
            self.backoff = self.backoff_min
