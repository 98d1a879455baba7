"""W6 scale: claim-and-finish cost, one job at a time through the system's own store API, on a
fresh table and again after a long history of finished jobs was added."""

from __future__ import annotations

import time

from ..systems import Entry
from . import Case, Context, Metrics

TITLE = "W6 claim-and-finish cost against history (µs per job, one at a time)"
COLUMNS = [
    ("empty_us", "µs per job, empty table", "{:,.0f}"),
    ("history_us", "µs per job, with history", "{:,.0f}"),
    ("ratio", "ratio", "{:.2f}"),
    ("fill_seconds", "seconds to add history", "{:.1f}"),
]


def cases(entry: Entry) -> list[Case]:
    return [Case("W6")]


def timed(ctx: Context) -> float:
    """Microseconds per job, after a few untimed cycles (connections, caches, plans)."""
    system, count = ctx.system, ctx.sizes.scale_jobs
    warm_up = max(10, count // 10)
    system.enqueue("noop", warm_up + count, ctx.sizes.bulk_chunk)
    system.claim_and_finish(warm_up)
    return system.claim_and_finish(count) / count * 1e6


def run(ctx: Context) -> Metrics:
    empty = timed(ctx)
    started = time.monotonic()
    ctx.system.fill_history(ctx.sizes.history_jobs)
    fill_seconds = time.monotonic() - started
    history = timed(ctx)
    ctx.notes.append(f"history: {ctx.sizes.history_jobs:,} finished jobs")
    return {
        "empty_us": empty,
        "history_us": history,
        "ratio": history / empty,
        "fill_seconds": fill_seconds,
    }
