"""The demo apps on a fresh data folder and database per test, served in-process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from wire_server import FakeAPI

from examples.jobs import app as jobs
from examples.seed import seed
from underway import Underway


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    """A local server speaking the model APIs' wire formats (tests/examples/wire_server.py)."""
    fake = FakeAPI()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[Underway]:
    """examples.jobs.app pointed at this test's database, with seeded demo data, no AI key and
    no simulated latency (a test that wants one sets OFFLINE_LATENCY)."""
    for name in ("GEMINI_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OFFLINE_LATENCY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEMO_DATA_DIR", str(tmp_path / "demo-data"))
    monkeypatch.setenv("UNDERWAY_DATABASE_URL", sqlite_url)
    previous_url, previous_eager = jobs.database_url, jobs.eager
    jobs.use_database(sqlite_url)
    jobs.eager = False
    seed()
    yield jobs
    jobs.store.close()
    jobs.use_database(previous_url)
    jobs.eager = previous_eager


@contextmanager
def serving(asgi: FastAPI) -> Iterator[str]:
    """Serve an ASGI app with a real uvicorn on a free loopback port; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def client(demo: Underway) -> Iterator[httpx.Client]:
    """The demo's web app as `make demo` serves it: both apps, the widget's mount at /watch
    (underway answering as the demo's signed-in user) and the dashboard at /."""
    from examples.server import create_demo_app

    with (
        serving(create_demo_app()) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
    ):
        yield http
