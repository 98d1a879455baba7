"""Job counts, service addresses and the fixed parts of every run."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.md"

# Every run talks to these and nothing else (traffic stays on 127.0.0.1).
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
# A Redis database number the suite owns: it is flushed before and after every run.
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "14"))
POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
POSTGRES_ADMIN_DB = "test"
# Each run gets its own PostgreSQL database, named with this prefix and dropped afterwards.
POSTGRES_DB_PREFIX = "ubench_"

PROCESSES = 2  # OS processes that run jobs, for every system
SLEEP_SLOTS = 50  # slots per process for the 10 ms sleep drain
SLEEP_SECONDS = 0.010


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does; `--quick` uses the small set."""

    dispatch_jobs: int = 10_000  # W1
    bulk_chunk: int = 1_000  # W1: jobs per bulk call
    drain_jobs: int = 10_000  # W2 no-op
    sleep_jobs: int = 10_000  # W2 10 ms sleep
    latency_jobs: int = 200  # W3
    latency_gap: float = 0.020  # W3: seconds between dispatches
    idle_seconds: float = 5.0  # W3: window for the idle worker's CPU
    progress_updates: int = 10_000  # W4
    progress_results: int = 1_000  # W4
    poll_seconds: float = 10.0  # W5
    poll_clients: int = 50  # W5
    poll_jobs: int = 10_000  # W5: sleep jobs the workers drain meanwhile
    history_jobs: int = 1_000_000  # W6
    scale_jobs: int = 2_000  # W6: claim-and-finish cycles timed
    stream_jobs: int = 100  # W7: running jobs, each followed by its share of the watchers
    stream_watchers: int = 1_000  # W7: event streams open in the main window
    stream_seconds: float = 20.0  # W7: the main window
    stream_few_watchers: int = 100  # W7: event streams open in the first, smaller window
    stream_few_seconds: float = 6.0
    run_budget: float = 900.0  # seconds one run may take before it is killed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FULL = Sizes()
QUICK = Sizes(
    dispatch_jobs=500,
    bulk_chunk=100,
    drain_jobs=500,
    sleep_jobs=500,
    latency_jobs=30,
    idle_seconds=1.0,
    progress_updates=1_000,
    progress_results=100,
    poll_seconds=2.0,
    poll_clients=50,
    poll_jobs=1_000,
    history_jobs=20_000,
    scale_jobs=200,
    stream_jobs=20,
    stream_watchers=200,
    stream_seconds=3.0,
    stream_few_watchers=20,
    stream_few_seconds=3.0,
    run_budget=180.0,
)
