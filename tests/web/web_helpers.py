"""Helpers for the web tests: tokens, polling with deadlines, real worker processes, a real
uvicorn server on a free loopback port, and signing in through the dashboard's form."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

HERE = Path(__file__).parent
TOKENS = {
    "alice-token-0123456789": "alice",
    "bob-token-0123456789": "bob",
    "admin-token-0123456789": "admin",
}
ALICE = {"Authorization": "Bearer alice-token-0123456789"}
BOB = {"Authorization": "Bearer bob-token-0123456789"}
ADMIN = {"Authorization": "Bearer admin-token-0123456789"}
LOCAL_CLIENT = ("127.0.0.1", 50000)


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll until predicate() is truthy and return it; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def worker_command(database_url: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "underway", "worker", "--app", "web_jobs:app",
        "--database-url", database_url, "--processes", "1", "--concurrency", "2",
        "--sleep", "0.05", "--grace", "5", *extra,
    ]  # fmt: skip


@contextmanager
def running_worker(database_url: str, log: Path, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real `underway worker` subprocess on the test's database, stopped afterwards."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            worker_command(database_url, *extra), cwd=HERE, stdout=out, stderr=out, env=child_env()
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERWAY_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


@contextmanager
def live_server(asgi: Any) -> Iterator[str]:
    """Serve asgi with uvicorn on 127.0.0.1 and a free port, in a thread; yield its base URL."""
    config = uvicorn.Config(
        asgi, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """Sign in through the dashboard's form, as a browser would; the client keeps the cookie."""
    page = await client.get("/signin")
    return await client.post(
        "/signin", data={"csrf": csrf_of(page.text), "token": token, "next": "/"}
    )
