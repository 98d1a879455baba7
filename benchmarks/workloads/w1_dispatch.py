"""W1 dispatch: no-op jobs queued one call at a time from one process, then through the bulk
API where the system has one. No worker runs meanwhile."""

from __future__ import annotations

from ..resources import NotAvailable
from ..systems import Entry
from . import Case, Context, Metrics

TITLE = "W1 dispatch (jobs/s, one process, no worker running)"
COLUMNS = [
    ("single", "one call per job, jobs/s", "{:,.0f}"),
    ("bulk", "bulk API, jobs/s", "{:,.0f}"),
]


def cases(entry: Entry) -> list[Case]:
    return [Case("W1")]


def run(ctx: Context) -> Metrics:
    count = ctx.sizes.dispatch_jobs
    metrics: Metrics = {"single": count / ctx.system.dispatch_each("noop", count)}
    try:
        metrics["bulk"] = count / ctx.system.dispatch_bulk("noop", count, ctx.sizes.bulk_chunk)
    except NotAvailable as exc:
        metrics["bulk"] = f"n/a: {exc}"
    return metrics
