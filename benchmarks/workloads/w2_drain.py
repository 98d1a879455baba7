"""W2 drain: jobs queued first, then the workers start; throughput from the first job's start
to the last job's finish, as the jobs themselves report them."""

from __future__ import annotations

from ..config import SLEEP_SECONDS, SLEEP_SLOTS
from ..systems import Entry
from . import Case, Context, Metrics, concurrency_modes

TITLE = "W2 drain (2 worker processes; first start to last finish)"
COLUMNS = [
    ("jobs_s", "jobs/s", "{:,.0f}"),
    ("seconds", "seconds", "{:.2f}"),
]
NOOP = "no-op"
SLEEP = f"sleep {SLEEP_SECONDS * 1000:g} ms"
VARIANTS = [NOOP, SLEEP]  # the order of the table's rows


def cases(entry: Entry) -> list[Case]:
    return [Case("W2", NOOP, c) for c in concurrency_modes(entry)] + [
        Case("W2", SLEEP, SLEEP_SLOTS)
    ]


def run(ctx: Context) -> Metrics:
    task, count = (
        ("noop", ctx.sizes.drain_jobs)
        if ctx.case.variant == NOOP
        else ("sleep", ctx.sizes.sleep_jobs)
    )
    ctx.system.enqueue(task, count, ctx.sizes.bulk_chunk)
    with ctx.workers() as workers:
        rows = ctx.probe.wait("run", count, ctx.timeout, workers.check)
    first_start = min(row[1] for row in rows)
    last_finish = max(row[2] for row in rows)
    seconds = last_finish - first_start
    if len(rows) > count:
        ctx.notes.append(f"{len(rows) - count} jobs ran more than once")
    return {"jobs_s": count / seconds, "seconds": seconds}
