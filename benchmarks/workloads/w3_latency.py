"""W3 pickup latency: an idle worker, jobs dispatched one by one at a steady gap; the time from
the dispatch call to the job's start. Also the idle worker's CPU and its largest process."""

from __future__ import annotations

import time

from ..base import stamped
from ..stats import percentile
from ..systems import Entry
from . import Case, Context, Metrics, concurrency_modes

TITLE = "W3 pickup latency (idle worker, jobs 20 ms apart; ms from dispatch to start)"
COLUMNS = [
    ("p50", "p50 ms", "{:,.2f}"),
    ("p95", "p95 ms", "{:,.2f}"),
    ("p99", "p99 ms", "{:,.2f}"),
    ("idle_cpu", "idle CPU % of a core", "{:,.2f}"),
    ("idle_rss", "largest idle process MB", "{:.0f}"),
]
WARM_UP_JOBS = 10
SETTLE_SECONDS = 1.0


def cases(entry: Entry) -> list[Case]:
    return [Case("W3", "", c) for c in concurrency_modes(entry)]


def run(ctx: Context) -> Metrics:
    system, probe, count = ctx.system, ctx.probe, ctx.sizes.latency_jobs
    with ctx.workers() as workers:
        # Every process has started and run something; then let the worker go idle.
        system.dispatch_each("noop", WARM_UP_JOBS)
        probe.wait("run", WARM_UP_JOBS, ctx.timeout, workers.check)
        probe.take("run")
        time.sleep(SETTLE_SECONDS)
        cpu_before, started = workers.cpu_seconds(), time.monotonic()
        time.sleep(ctx.sizes.idle_seconds)
        idle_cpu = (workers.cpu_seconds() - cpu_before) / (time.monotonic() - started) * 100
        idle_rss = workers.largest_rss_mb()
        system.dispatch_each("noop", count, make=stamped, gap=ctx.sizes.latency_gap)
        rows = probe.wait("run", count, ctx.timeout, workers.check)
    latencies = [(start - dispatched) * 1000 for dispatched, start, _ in rows]
    return {
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "idle_cpu": idle_cpu,
        "idle_rss": idle_rss,
    }
