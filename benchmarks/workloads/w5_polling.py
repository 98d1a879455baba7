"""W5 status polling: clients GET /api/jobs/{id} as fast as they can for a fixed time while
the workers drain sleep jobs; requests/s and latency. underway only: the peers have no such API.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable

from ..httpget import Connection
from ..procs import Processes
from ..stats import percentile
from ..systems import Entry
from . import Case, Context, Metrics

TITLE = "W5 status polling (GET /api/jobs/{id}, concurrent clients, while workers drain jobs)"
COLUMNS = [
    ("requests_s", "requests/s", "{:,.0f}"),
    ("p50", "p50 ms", "{:,.2f}"),
    ("p99", "p99 ms", "{:,.2f}"),
    ("errors", "non-200 answers", "{:,.0f}"),
    ("client_cpu", "client CPU % of a core", "{:.0f}"),
]
SERVER_START_SECONDS = 60.0


def cases(entry: Entry) -> list[Case]:
    return [Case("W5", "", entry.default_concurrency)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(ctx: Context) -> Metrics:
    system, sizes = ctx.system, ctx.sizes
    port = free_port()
    command = system.server_command(port)  # NotAvailable before anything starts
    system.enqueue("sleep", sizes.poll_jobs, sizes.bulk_chunk)
    paths = [f"/api/jobs/{job_id}" for job_id in system.job_ids(sizes.poll_jobs)]
    with ctx.workers() as workers, Processes("server", system.res.logs) as server:
        server.start([command], dict(os.environ))
        ctx.notes.append(system.server_note)
        asyncio.run(wait_until_up(port, paths[0], server.check))
        workers.check()
        cpu_before = time.process_time()
        latencies, errors, seconds = asyncio.run(
            poll(port, paths, sizes.poll_clients, sizes.poll_seconds)
        )
        client_cpu = (time.process_time() - cpu_before) / seconds * 100
    return {
        "requests_s": len(latencies) / seconds,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "errors": errors,
        "client_cpu": client_cpu,
    }


async def wait_until_up(port: int, path: str, check: Callable[[], None]) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        connection = Connection("127.0.0.1", port)
        try:
            status, body = await connection.get(path)
            if status == 200:
                return
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        except OSError:
            pass
        finally:
            await connection.close()
        if time.monotonic() >= deadline:
            raise TimeoutError(f"the server did not answer within {SERVER_START_SECONDS:.0f} s")
        check()
        await asyncio.sleep(0.1)


async def poll(
    port: int, paths: list[str], clients: int, seconds: float
) -> tuple[list[float], int, float]:
    """`clients` loops, each on its own keep-alive connection, each asking for job after job."""
    latencies: list[float] = []
    errors = 0
    started = time.monotonic()
    stop_at = started + seconds

    async def one(index: int) -> None:
        nonlocal errors
        connection, k = Connection("127.0.0.1", port), index
        try:
            while time.monotonic() < stop_at:
                sent = time.perf_counter()
                status, _ = await connection.get(paths[k % len(paths)])
                latencies.append((time.perf_counter() - sent) * 1000)
                errors += status != 200
                k += clients
        finally:
            await connection.close()

    await asyncio.gather(*(one(i) for i in range(clients)))
    return latencies, errors, time.monotonic() - started
