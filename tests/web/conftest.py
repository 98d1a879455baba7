"""Fixtures for the web tests: the real ASGI app on a real SQLite file (and, for the tests that
take any_client, on each backend in turn), and real workers."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import web_jobs
from web_helpers import LOCAL_CLIENT, TOKENS, running_worker

from underway import Underway
from underway.web import create_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def jobs(sqlite_url: str) -> Iterator[Underway]:
    app = web_jobs.make_app(sqlite_url)
    yield app
    app.store.close()


@pytest.fixture
def web(jobs: Underway) -> Any:
    return create_app(jobs, tokens=TOKENS)


@pytest.fixture
async def client(web: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=web, client=LOCAL_CLIENT)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", follow_redirects=True
    ) as c:
        yield c


@pytest.fixture
def any_jobs(database_url: str) -> Iterator[Underway]:
    """The test's app on each backend in turn: a SQLite file, then a PostgreSQL schema."""
    app = web_jobs.make_app(database_url)
    yield app
    app.store.close()


@pytest.fixture
async def any_client(any_jobs: Underway) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real ASGI app on each backend, as `client` is on SQLite."""
    transport = httpx.ASGITransport(app=create_app(any_jobs, tokens=TOKENS), client=LOCAL_CLIENT)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", follow_redirects=True
    ) as c:
        yield c


@pytest.fixture
def worker(sqlite_url: str, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start real workers on the test's database: worker() or worker("--burst")."""
    started: list[Any] = []

    def start(*extra: str) -> subprocess.Popen[bytes]:
        context = running_worker(sqlite_url, tmp_path / "worker.log", *extra)
        started.append(context)
        return context.__enter__()

    yield start
    for context in reversed(started):
        context.__exit__(None, None, None)
