"""W7 job event streams: many Server-Sent Events watchers of running jobs, one server process.

Jobs advance 10 times a second, stamping each step with time.time(); the watchers (benchmarks/
sse.py, in this process) measure from that call to the event's arrival, so the delay includes
the worker's coalescing of progress writes (PROGRESS_INTERVAL) as well as the server's. First a
window with the few watchers, then one with all of them, against the same server and jobs: the
store reads the server makes (its underway_stream_store_reads_total counter) should not grow
with the watchers. underway only: the peers have no event stream.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from typing import Any

from ..base import System
from ..config import PROCESSES
from ..httpget import Connection
from ..procs import Processes
from ..resources import NotAvailable
from ..sse import Watchers
from ..stats import percentile
from ..systems import Entry
from . import Case, Context, Metrics
from .w5_polling import free_port, wait_until_up

TITLE = (
    "W7 job event streams (SSE watchers of running jobs that advance 10 times a second; one "
    "server process; ms from the task's progress call to the event's arrival)"
)
COLUMNS = [
    ("p50", "p50 ms", "{:,.0f}"),
    ("p99", "p99 ms", "{:,.0f}"),
    ("stored_p50", "of which to the store: p50 ms", "{:,.0f}"),
    ("stored_p99", "to the store: p99 ms", "{:,.0f}"),
    ("server_cpu", "server CPU, cores", "{:.2f}"),
    ("server_rss", "server RSS MB", "{:.0f}"),
    ("reads_s", "store reads/s", "{:,.0f}"),
    ("updates_s", "updates delivered/s", "{:,.0f}"),
    ("few_p99", "few watchers: p99 ms", "{:,.0f}"),
    ("few_server_cpu", "few: server CPU, cores", "{:.2f}"),
    ("few_reads_s", "few: store reads/s", "{:,.0f}"),
    ("reads_ratio", "reads/s all ÷ few", "{:.2f}"),
    ("client_cpu", "client CPU % of a core", "{:.0f}"),
    ("lost", "streams lost", "{:,.0f}"),
]
STEP_SECONDS = 0.1  # a job advances this often
PROGRESS_INTERVAL = 0.1  # the workers write progress at most this often (default 0.25)
SLOTS = 50  # jobs at a time per worker process: PROCESSES * SLOTS >= stream_jobs
WARM_UP_SECONDS = 2.0  # after a batch of streams opened, before its window
STORE_SECONDS = 4.0  # before any stream: from the task's call to its row in the store
STORE_POLL = 0.01
FEW_SHOWN = ("p99", "server_cpu", "reads_s")  # of the window with the few watchers
READS_COUNTER = "underway_stream_store_reads_total"
HOST = "127.0.0.1"


def cases(entry: Entry) -> list[Case]:
    return [Case("W7", "", SLOTS)]


def run(ctx: Context) -> Metrics:
    system, sizes = ctx.system, ctx.sizes
    if sizes.stream_jobs > PROCESSES * SLOTS:
        raise ValueError(f"{sizes.stream_jobs} jobs need more than {PROCESSES}x{SLOTS} slots")
    port = free_port()
    command = system.server_command(port)  # NotAvailable before anything starts
    workers_command = system.stream_worker_commands(PROCESSES, SLOTS, PROGRESS_INTERVAL)
    allow_open_files(sizes.stream_watchers + 1000)  # the server inherits it
    until = time.time() + ctx.sizes.run_budget  # the run cancels the jobs before then

    def make(_: int) -> dict[str, Any]:
        return {"until": until, "step": STEP_SECONDS}

    try:
        system.dispatch_bulk("advance", sizes.stream_jobs, sizes.bulk_chunk, make)
    except NotAvailable:
        system.dispatch_each("advance", sizes.stream_jobs, make)
    ids = system.job_ids(sizes.stream_jobs)
    paths = [f"/api/jobs/{job_id}/events" for job_id in ids]
    env = dict(os.environ)
    with (
        Processes("worker", system.res.logs) as workers,
        Processes("server", system.res.logs) as server,
    ):
        workers.start(workers_command, env)
        server.start([command], env)
        ctx.notes.append(system.server_note)
        ctx.notes.append(
            f"workers: {PROCESSES} processes x {SLOTS} slots, writing progress at most every "
            f"{PROGRESS_INTERVAL:g} s (benchmarks/streamworker.py: `underway worker` has no flag "
            "for it; its default is 0.25 s); each job advances every "
            f"{STEP_SECONDS:g} s; the delay counts from the task's call, so it includes that "
            "coalescing"
        )
        if (poll := system.stream_poll_interval()) is not None:
            ctx.notes.append(f"server at its defaults: the store is polled every {poll:g} s")
        asyncio.run(wait_until_up(port, f"/api/jobs/{ids[0]}", server.check))
        ctx.probe.wait("advance", sizes.stream_jobs, ctx.timeout, workers.check)
        stored = to_the_store(system)
        metrics = asyncio.run(watch(ctx, server, port, paths))
        system.cancel(ids)
    return {
        **metrics,
        "stored_p50": percentile(stored, 50),
        "stored_p99": percentile(stored, 99),
    }


def to_the_store(system: System) -> list[float]:
    """Milliseconds from the task's call to its progress row, polling the store's table."""
    seen: dict[str, str] = {}
    delays: list[float] = []
    with system.progress_reader() as read:
        time.sleep(WARM_UP_SECONDS)
        end = time.time() + STORE_SECONDS
        while time.time() < end:
            rows = read()
            now = time.time()
            for job_id, stamp in rows:
                if stamp is not None and seen.setdefault(job_id, stamp) != stamp:
                    delays.append((now - float(stamp)) * 1000)
                    seen[job_id] = stamp
            time.sleep(STORE_POLL)
    if not delays:
        raise RuntimeError(f"no progress reached the store in {STORE_SECONDS:g} s")
    return delays


def allow_open_files(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def spread(paths: list[str], count: int, start: int = 0) -> list[str]:
    """Streams start..count-1 of a deal of `count` streams over the jobs, round-robin."""
    return [paths[i % len(paths)] for i in range(start, count)]


async def watch(ctx: Context, server: Processes, port: int, paths: list[str]) -> Metrics:
    sizes = ctx.sizes
    watchers = Watchers(HOST, port)
    try:
        await watchers.open(spread(paths, sizes.stream_few_watchers))
        few = await window(watchers, server, port, sizes.stream_few_seconds)
        await watchers.open(spread(paths, sizes.stream_watchers, sizes.stream_few_watchers))
        many = await window(watchers, server, port, sizes.stream_seconds)
    finally:
        watchers.close()
    metrics: Metrics = {**many, **{f"few_{k}": few[k] for k in FEW_SHOWN}}
    metrics["lost"] = many["lost"]  # streams that closed, in either window
    reads, few_reads = many["reads_s"], few["reads_s"]
    if isinstance(reads, float) and isinstance(few_reads, float) and few_reads > 0:
        metrics["reads_ratio"] = reads / few_reads
    else:
        metrics["reads_ratio"] = f"n/a: {READS_COUNTER} not available"
    return metrics


async def window(watchers: Watchers, server: Processes, port: int, seconds: float) -> Metrics:
    """Wait out the warm-up, then measure for `seconds`."""
    await asyncio.sleep(WARM_UP_SECONDS)
    tally = watchers.tally
    reads_before = await store_reads(port)
    cpu_before, client_before = server.cpu_seconds(), time.process_time()
    started = time.time()
    tally.measure(started, started + seconds)
    await asyncio.sleep(seconds)
    server.check()
    elapsed = time.time() - started
    cpu = (server.cpu_seconds() - cpu_before) / elapsed
    client_cpu = (time.process_time() - client_before) / elapsed * 100
    delays = [delay * 1000 for delay in tally.delays]
    reads_after = await store_reads(port)
    if not delays:
        raise RuntimeError(f"no progress reached the watchers in {seconds:g} s ({tally.events})")
    metrics: Metrics = {
        "p50": percentile(delays, 50),
        "p99": percentile(delays, 99),
        "server_cpu": cpu,
        "server_rss": server.largest_rss_mb(),
        "updates_s": len(delays) / elapsed,
        "client_cpu": client_cpu,
        "lost": float(len(tally.lost)),
    }
    if reads_before is None or reads_after is None:
        metrics["reads_s"] = f"n/a: the server's /metrics has no {READS_COUNTER}"
    else:
        (count_before, at_before), (count_after, at_after) = reads_before, reads_after
        metrics["reads_s"] = (count_after - count_before) / (at_after - at_before)
    return metrics


async def store_reads(port: int) -> tuple[float, float] | None:
    """The server's count of store reads for event streams, and when it was read."""
    connection = Connection(HOST, port)
    try:
        status, body = await connection.get("/metrics")
    finally:
        await connection.close()
    at = time.monotonic()
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}: {body[:300]!r}")
    return counter(body.decode(), READS_COUNTER, at)


def counter(text: str, name: str, at: float) -> tuple[float, float] | None:
    total: Any = None
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return None if total is None else (total, at)
