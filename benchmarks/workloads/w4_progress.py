"""W4 progress: one job making N progress updates and R add_result calls through the system's
own progress API; microseconds per call (timed inside the job) and the writes it caused."""

from __future__ import annotations

import time

from ..systems import Entry
from . import Case, Context, Metrics

TITLE = "W4 progress (one job; microseconds per call, timed inside the job)"
COLUMNS = [
    ("progress_us", "µs per progress update", "{:,.2f}"),
    ("result_us", "µs per add_result", "{:,.2f}"),
    ("writes", "writes", "{:,.0f}"),
    ("job_seconds", "job seconds", "{:.3f}"),
    ("writes_per_s", "writes per second of the job (1 s minimum)", "{:,.1f}"),
]
SETTLE_SECONDS = 1.0  # lets the worker write the job's outcome before writes are counted


def cases(entry: Entry) -> list[Case]:
    return [Case("W4", "", entry.default_concurrency)]


def run(ctx: Context) -> Metrics:
    system, probe = ctx.system, ctx.probe
    writes = system.write_counter()
    n, r = ctx.sizes.progress_updates, ctx.sizes.progress_results
    with ctx.workers() as workers:
        system.dispatch_each("noop", 1)  # count from an idle, started worker
        probe.wait("run", 1, ctx.timeout, workers.check)
        time.sleep(SETTLE_SECONDS)
        before = writes()
        system.dispatch_each("progress", 1, make=lambda _: {"n": n, "r": r})
        (row,) = probe.wait("progress", 1, ctx.timeout, workers.check)
        time.sleep(SETTLE_SECONDS)
        after = writes()
    progress_us, result_us, start, finish = row
    return {
        "progress_us": progress_us,
        "result_us": result_us,
        "writes": after - before,
        "job_seconds": finish - start,
        "writes_per_s": (after - before) / max(finish - start, 1.0),
    }
