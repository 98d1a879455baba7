"""The awaitable API: dispatch_async, get_async, wait_async and watch, which never block the
event loop however long the database makes them wait."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from underway import Job, JobNotFound, Underway
from underway.model import Lease, Outcome, ProgressWrite, Status

LOCK_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()  # hold the write lock until told to let go
conn.execute("ROLLBACK")
"""


def make_app(url: str, eager: bool = False) -> Underway:
    app = Underway(url, eager=eager)

    @app.task("count")
    def count(job: Job, n: int) -> int:
        job.progress(total=n)
        for _ in range(n):
            job.advance()
        return n

    @app.task("count_async")
    async def count_async(job: Job, n: int) -> int:
        await asyncio.sleep(0)
        job.progress(total=n, processed=n)
        return n

    @app.task("broken")
    def broken() -> None:
        raise ValueError("no")

    return app


def test_eager_async_calls_match_the_plain_ones(sqlite_url: str) -> None:
    app = make_app(sqlite_url, eager=True)

    async def scenario() -> list[dict[str, Any]]:
        first = await app.dispatch_async("count", {"n": 3})
        second = await app.dispatch_async("count_async", {"n": 2}, priority=4)
        failed = await app.dispatch_async("broken")
        documents = [await app.wait_async(job_id, timeout=10) for job_id in (first, second)]
        assert await app.get_async(failed) == app.get(failed)
        return [*documents, await app.get_async(failed)]  # type: ignore[list-item]

    done, async_done, failed = asyncio.run(scenario())
    assert (done["status"], done["result"], done["progress"]["processed"]) == ("completed", 3, 3)
    assert (async_done["status"], async_done["priority"]) == ("completed", 4)
    assert failed["status"] == "failed" and failed["error"] == "ValueError: no"


def test_watch_yields_each_change_and_ends_at_the_finished_status(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    job_id = app.dispatch("count", {"n": 3})
    store = app.store

    shown = threading.Semaphore(0)  # released once per document the watcher yields

    def work() -> None:  # a worker's writes, through the store, each once the last was seen
        def after_seen(write: Callable[[], object]) -> None:
            assert shown.acquire(timeout=10), "the watcher did not show the last change"
            write()

        claimed: list[Lease] = []

        def claim() -> None:
            record = store.job_claim_one("w", job_id, 30, time.time())
            assert record is not None
            claimed.append(Lease(job_id, record.attempts))

        after_seen(claim)
        for processed in (1, 2, 3):
            write = ProgressWrite(claimed[0], total=3, processed=processed)
            after_seen(lambda write=write: store.job_write_progress("w", [write]))
        outcome = Outcome(claimed[0], Status.COMPLETED, time.time(), result=3)
        after_seen(lambda: store.job_finish("w", [outcome]))

    async def watch() -> list[dict[str, Any]]:
        seen = []
        async for document in app.watch(job_id, interval=0.02):
            seen.append(document)
            shown.release()
        return seen

    writer = threading.Thread(target=work)
    writer.start()
    seen = asyncio.run(watch())
    writer.join()
    assert seen[0]["status"] == "pending"
    assert [d["progress"]["processed"] for d in seen if d["status"] == "processing"] == [0, 1, 2, 3]
    assert seen[-1]["status"] == "completed" and seen[-1]["result"] == 3
    assert all(a != b for a, b in itertools.pairwise(seen))


def test_async_errors_are_the_plain_ones(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    job_id = app.dispatch("count", {"n": 1})

    async def scenario() -> None:
        with pytest.raises(JobNotFound):
            await app.wait_async("0" * 26, timeout=1)
        with pytest.raises(JobNotFound):
            [d async for d in app.watch("0" * 26)]
        with pytest.raises(TimeoutError, match=f"job {job_id} still pending after 0.2 s"):
            await app.wait_async(job_id, timeout=0.2)
        assert await app.get_async("0" * 26) is None

    asyncio.run(scenario())


def test_a_locked_database_never_blocks_other_requests(sqlite_url: str) -> None:
    # A request that dispatches waits for another process's write lock; a second request to the
    # same server is answered meanwhile, because the wait happens off the event loop.
    app = make_app(sqlite_url)
    app.store.schema_ensure()
    web = FastAPI()

    @web.post("/dispatch")
    async def dispatch() -> dict[str, str]:
        return {"job_id": await app.dispatch_async("count", {"n": 1})}

    @web.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    path = Path(sqlite_url.removeprefix("sqlite:///"))
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"

        async def scenario() -> str:
            transport = httpx.ASGITransport(app=web)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                dispatching = asyncio.create_task(client.post("/dispatch"))
                await asyncio.sleep(0.2)
                assert (await client.get("/ping")).json() == {"pong": "yes"}
                assert not dispatching.done(), "the dispatch should still wait on the lock"
                assert holder.stdin is not None
                holder.stdin.write("go\n")
                holder.stdin.flush()
                response = await dispatching
                return str(response.json()["job_id"])

        job_id = asyncio.run(scenario())
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=10)  # waits, and closes the pipes
    assert app.get(job_id) is not None
