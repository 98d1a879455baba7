"""Failed token checks are limited per client address: wrong bearer tokens and wrong sign-ins
answer 429 with Retry-After after too many; successes are never limited; memory stays bounded."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from web_helpers import ADMIN, ALICE, TOKENS, csrf_of

from underway import Underway
from underway.web import create_app
from underway.web.throttle import DEFAULT_MAX_FAILURES, DEFAULT_WINDOW_SECONDS, Throttle

pytestmark = pytest.mark.anyio

WRONG = {"Authorization": "Bearer not-a-token-0123456789"}


def client_at(web: Any, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=web, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_sixty_wrong_tokens_are_mostly_refused_with_429(
    any_jobs: Underway,
) -> None:
    web = create_app(any_jobs, tokens=TOKENS)
    async with client_at(web, "203.0.113.7") as guesser, client_at(web, "198.51.100.1") as other:
        answers = [(await guesser.get("/api/jobs", headers=WRONG)) for _ in range(60)]
        statuses = [a.status_code for a in answers]
        assert statuses == [401] * DEFAULT_MAX_FAILURES + [429] * (60 - DEFAULT_MAX_FAILURES)
        limited = answers[-1]
        assert 1 <= int(limited.headers["retry-after"]) <= DEFAULT_WINDOW_SECONDS
        assert "too many failed" in limited.json()["detail"]
        # While limited, a right token is not even checked: the answer would tell a guesser.
        assert (await guesser.get("/api/jobs", headers=ALICE)).status_code == 429
        # Another address is not affected.
        assert (await other.get("/api/jobs", headers=ALICE)).status_code == 200
        assert (await other.get("/api/jobs", headers=WRONG)).status_code == 401


async def test_successes_are_never_limited(jobs: Underway) -> None:
    web = create_app(jobs, tokens=TOKENS)
    async with client_at(web, "203.0.113.8") as client:
        for _ in range(DEFAULT_MAX_FAILURES - 1):
            assert (await client.get("/api/jobs", headers=WRONG)).status_code == 401
        for _ in range(100):
            assert (await client.get("/api/jobs", headers=ALICE)).status_code == 200
        answers = [(await client.get("/api/stats", headers=ADMIN)) for _ in range(50)]
        assert {a.status_code for a in answers} == {200}
        # Requests without a token guess nothing: they are not counted either.
        for _ in range(30):
            assert (await client.get("/api/jobs")).status_code == 401
        assert (await client.get("/api/jobs", headers=ALICE)).status_code == 200


async def test_the_limit_is_set_in_create_app_and_ends_after_its_window(jobs: Underway) -> None:
    web = create_app(jobs, tokens=TOKENS, failed_auth_limit=3, failed_auth_window=0.5)
    async with client_at(web, "203.0.113.9") as client:
        statuses = [(await client.get("/api/jobs", headers=WRONG)).status_code for _ in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        await asyncio.sleep(0.6)
        assert (await client.get("/api/jobs", headers=ALICE)).status_code == 200
        assert (await client.get("/api/jobs", headers=WRONG)).status_code == 401
    unlimited = create_app(jobs, tokens=TOKENS, failed_auth_limit=0)
    async with client_at(unlimited, "203.0.113.9") as client:
        statuses = [(await client.get("/api/jobs", headers=WRONG)).status_code for _ in range(30)]
        assert set(statuses) == {401}
    with pytest.raises(ValueError, match="failed_auth"):
        create_app(jobs, tokens=TOKENS, failed_auth_window=0)


async def test_wrong_sign_ins_are_limited(jobs: Underway) -> None:
    web = create_app(jobs, tokens=TOKENS)
    async with client_at(web, "203.0.113.10") as browser:
        csrf = csrf_of((await browser.get("/signin")).text)
        form = {"csrf": csrf, "next": "/"}
        for _ in range(DEFAULT_MAX_FAILURES):
            wrong = await browser.post("/signin", data={**form, "token": "guess-0123456789"})
            assert wrong.status_code == 401
        limited = await browser.post("/signin", data={**form, "token": "guess-0123456789"})
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert "Too many failed sign-ins" in limited.text
        right = await browser.post("/signin", data={**form, "token": "alice-token-0123456789"})
        assert right.status_code == 429
        # The bearer API shares the count: it is the same secret being guessed.
        assert (await browser.get("/api/jobs", headers=ALICE)).status_code == 429


def test_memory_stays_bounded() -> None:
    now = [0.0]
    throttle = Throttle(max_failures=2, window=60, max_clients=100, clock=lambda: now[0])
    for n in range(10_000):
        throttle.failed(f"10.0.{n // 256}.{n % 256}")
        throttle.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(throttle) == 100
    assert throttle.retry_after("10.0.39.15") == 60  # the last address is still limited
    assert throttle.retry_after("10.0.0.0") is None  # the first one was forgotten
    now[0] = 61.0
    assert throttle.retry_after("10.0.39.15") is None
    assert len(throttle) == 99  # an expired entry goes when it is next looked at
