"""Worker options, as `underway worker` flags give them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..settings import DEFAULT_LEASE_SECONDS, DEFAULT_PROGRESS_INTERVAL

# A plain task cannot be interrupted, so the supervisor kills its process at the deadline; an
# async task is cancelled by its child at the deadline, and killed only if it blocks the loop.
ASYNC_TIMEOUT_BACKSTOP = 1.0
# SQLite has no notifications: an idle supervisor checks PRAGMA data_version every IDLE_TICK,
# and every IDLE_TICK_MAX once nothing has happened for IDLE_BACKOFF_AFTER seconds.
IDLE_TICK = 0.005
IDLE_TICK_MAX = 0.05
IDLE_BACKOFF_AFTER = 2.0
# While jobs take less than AHEAD_BELOW_SECONDS on average, each child is handed up to
# AHEAD_BATCHES times its slots beyond them, so that it keeps working while the supervisor
# writes outcomes and claims more (three batches cover a PostgreSQL commit at thousands of jobs a
# second). Slower jobs are never queued behind one another.
AHEAD_BELOW_SECONDS = 0.05
AHEAD_BATCHES = 3
# Retries during a database outage back off from MIN to MAX, and never beyond a third of the
# lease (see WorkerConfig.outage_backoff_max).
OUTAGE_BACKOFF_MIN = 0.5
OUTAGE_BACKOFF_MAX = 10.0
# Children that die before they are ready, in a row, before the worker gives up and exits 1.
MAX_START_FAILURES = 3


@dataclass(frozen=True)
class WorkerConfig:
    app_spec: str
    queues: tuple[str, ...] = ()
    processes: int = os.cpu_count() or 1
    # Jobs are mostly waits (AI calls, HTTP, databases); SAQ and arq default to 10 as well.
    concurrency: int = 10
    timeout: float | None = None
    tries: int | None = None
    memory_mb: float | None = None
    max_jobs: int | None = None
    max_time: float | None = None
    sleep: float = 1.0
    grace: float = 30.0
    lease: float = DEFAULT_LEASE_SECONDS
    burst: bool = False
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL

    def __post_init__(self) -> None:
        for name in ("processes", "concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1")
        for name in ("sleep", "lease", "progress_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive number of seconds")
        if self.grace < 0:
            raise ValueError("--grace must be zero or more seconds")

    @property
    def heartbeat_interval(self) -> float:
        """Leases are renewed well before they run out; the same beat notices cancels."""
        return min(self.lease / 3, 1.0)

    @property
    def rescue_interval(self) -> float:
        return max(0.2, min(self.lease / 2, 10.0))

    @property
    def outage_backoff_max(self) -> float:
        """A worker back from an outage must heartbeat well within its lease: a third of it."""
        return min(OUTAGE_BACKOFF_MAX, self.lease / 3)
