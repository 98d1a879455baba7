"""create_app(authenticate=...): the host application decides who is asking, here a FastAPI app
with Starlette's SessionMiddleware (real signed cookies) and the web app mounted at /jobs."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.middleware.sessions import SessionMiddleware
from web_helpers import ADMIN, ALICE, BOB, LOCAL_CLIENT, TOKENS

from underway import Underway
from underway.web import create_app

pytestmark = pytest.mark.anyio

HOST_SECRET = "host-application-session-secret"


def session_user(request: Request) -> str | None:
    user = request.session.get("user")
    return user if isinstance(user, str) else None


async def async_session_user(request: Request) -> str | None:
    return session_user(request)


def host_app(jobs: Underway, authenticate: Any, **options: Any) -> FastAPI:
    """The host application: its own sign-in, and the jobs' web app mounted inside it."""
    host = FastAPI()

    @host.get("/login/{name}")
    def login(name: str, request: Request) -> dict[str, str]:
        request.session["user"] = name
        return {"user": name}

    @host.get("/logout")
    def logout(request: Request) -> dict[str, str]:
        request.session.clear()
        return {}

    host.mount("/jobs", create_app(jobs, authenticate=authenticate, **options))
    host.add_middleware(SessionMiddleware, secret_key=HOST_SECRET)
    return host


def client_of(asgi: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi, client=LOCAL_CLIENT)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


Hosted = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def hosted(jobs: Underway) -> AsyncIterator[Hosted]:
    """hosted(authenticate=session_user, tokens=TOKENS): a client of a fresh host app."""
    opened: list[httpx.AsyncClient] = []

    def make(authenticate: Any = session_user, **options: Any) -> httpx.AsyncClient:
        options.setdefault("tokens", TOKENS)
        opened.append(client_of(host_app(jobs, authenticate, **options)))
        return opened[-1]

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture
def two_jobs(jobs: Underway) -> tuple[str, str]:
    return jobs.dispatch("demo.echo", owner="alice"), jobs.dispatch("demo.echo", owner="bob")


async def log_in(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/login/{name}")
    assert response.status_code == 200
    assert "session" in client.cookies  # Starlette's signed cookie, kept by the client


async def test_the_session_user_sees_their_own_jobs_only(
    hosted: Hosted, two_jobs: tuple[str, str]
) -> None:
    alice_job, bob_job = two_jobs
    client = hosted()
    await log_in(client, "alice")
    mine = await client.get(f"/jobs/api/jobs/{alice_job}")
    assert mine.status_code == 200
    assert mine.json()["owner"] == "alice"
    assert (await client.get(f"/jobs/api/jobs/{bob_job}")).status_code == 404
    listed = (await client.get("/jobs/api/jobs")).json()["jobs"]
    assert [d["job_id"] for d in listed] == [alice_job]
    assert (await client.get(f"/jobs/api/jobs/{bob_job}/events")).status_code == 404
    assert (await client.get("/jobs/api/stats")).status_code == 403  # not the operator


async def test_the_session_user_follows_and_operates_their_job(
    hosted: Hosted, jobs: Underway
) -> None:
    client = hosted()
    await log_in(client, "alice")
    created = await client.post("/jobs/api/jobs", json={"task": "demo.echo"})
    assert created.status_code == 202
    job_id = created.json()["job_id"]
    assert jobs.get(job_id)["owner"] == "alice"  # type: ignore[index]
    cancelled = await client.post(f"/jobs/api/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    # The job has ended, so its stream sends the document once and ends.
    stream = await client.get(f"/jobs/api/jobs/{job_id}/events")
    assert stream.status_code == 200
    data = [line[6:] for line in stream.text.splitlines() if line.startswith("data: ")]
    assert json.loads(data[0])["status"] == "cancelled"


async def test_anonymous_is_401_even_from_this_machine(
    hosted: Hosted, two_jobs: tuple[str, str]
) -> None:
    alice_job, _ = two_jobs
    for tokens in (TOKENS, {}):  # with a hook and no tokens the server is not open either
        client = hosted(tokens=tokens)
        for method, path in [
            ("GET", "/jobs/api/jobs"),
            ("GET", f"/jobs/api/jobs/{alice_job}"),
            ("GET", f"/jobs/api/jobs/{alice_job}/events"),
            ("POST", f"/jobs/api/jobs/{alice_job}/cancel"),
            ("GET", "/jobs/metrics"),
        ]:
            response = await client.request(method, path)
            assert response.status_code == 401, (tokens, method, path)
            assert response.headers["www-authenticate"] == "Bearer"
        await log_in(client, "alice")
        await client.get("/logout")
        assert (await client.get(f"/jobs/api/jobs/{alice_job}")).status_code == 401


async def test_a_bearer_token_still_works_and_wins(
    hosted: Hosted, two_jobs: tuple[str, str]
) -> None:
    alice_job, bob_job = two_jobs
    client = hosted()
    assert (await client.get(f"/jobs/api/jobs/{alice_job}", headers=ALICE)).status_code == 200
    assert (await client.get("/jobs/api/stats", headers=ADMIN)).status_code == 200
    await log_in(client, "alice")
    # Signed in as alice, but the header says bob: bob it is.
    assert (await client.get(f"/jobs/api/jobs/{alice_job}", headers=BOB)).status_code == 404
    assert (await client.get(f"/jobs/api/jobs/{bob_job}", headers=BOB)).status_code == 200
    wrong = {"Authorization": "Bearer not-a-token"}
    assert (await client.get(f"/jobs/api/jobs/{alice_job}", headers=wrong)).status_code == 401


async def test_the_owner_admin_from_the_hook_is_the_operator(
    hosted: Hosted, two_jobs: tuple[str, str]
) -> None:
    client = hosted()
    await log_in(client, "admin")
    listed = (await client.get("/jobs/api/jobs")).json()["jobs"]
    assert {d["job_id"] for d in listed} == set(two_jobs)
    assert (await client.get("/jobs/api/stats")).status_code == 200


async def test_an_async_hook_works(hosted: Hosted, two_jobs: tuple[str, str]) -> None:
    alice_job, bob_job = two_jobs
    client = hosted(async_session_user)
    assert (await client.get(f"/jobs/api/jobs/{alice_job}")).status_code == 401
    await log_in(client, "alice")
    assert (await client.get(f"/jobs/api/jobs/{alice_job}")).status_code == 200
    assert (await client.get(f"/jobs/api/jobs/{bob_job}")).status_code == 404


class AsyncCallable:
    """An object whose __call__ is a coroutine function: awaited as well."""

    async def __call__(self, request: Request) -> str | None:
        return session_user(request)


async def test_an_object_with_an_async_call_works(
    hosted: Hosted, two_jobs: tuple[str, str]
) -> None:
    client = hosted(AsyncCallable())
    await log_in(client, "alice")
    assert (await client.get(f"/jobs/api/jobs/{two_jobs[0]}")).status_code == 200


def raising(request: Request) -> str | None:
    raise RuntimeError("the user database is down")


async def raising_async(request: Request) -> str | None:
    raise LookupError("no such session")


@pytest.mark.parametrize(
    "hook",
    [raising, raising_async, lambda request: 42, lambda request: "al\0ice"],
    ids=["raises", "async-raises", "not-text", "nul"],
)
async def test_a_failing_hook_is_401_and_logged(
    hosted: Hosted, two_jobs: tuple[str, str], hook: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = hosted(hook)
    await log_in(client, "alice")
    with caplog.at_level(logging.ERROR, logger="underway.web"):
        for path in (f"/jobs/api/jobs/{two_jobs[0]}", f"/jobs/api/jobs/{two_jobs[0]}/events"):
            response = await client.get(path)
            assert response.status_code == 401
            assert response.json() == {"detail": "authentication failed"}
        posted = await client.post("/jobs/api/jobs", json={"task": "demo.echo"})
        assert posted.status_code == 401
    assert any("authenticate hook" in r.getMessage() for r in caplog.records)
    # A bearer token is checked first: the hook is not even asked.
    assert (await client.get(f"/jobs/api/jobs/{two_jobs[0]}", headers=ALICE)).status_code == 200


async def test_a_tampered_session_cookie_is_anonymous(
    hosted: Hosted, two_jobs: tuple[str, str]
) -> None:
    client = hosted()
    await log_in(client, "bob")
    cookie = client.cookies["session"]
    assert (await client.get(f"/jobs/api/jobs/{two_jobs[1]}")).status_code == 200
    payload, rest = cookie.split(".", 1)
    assert json.loads(base64.b64decode(payload + "==")) == {"user": "bob"}
    # bob's signed session, its data rewritten to name alice: the signature no longer matches.
    forged = base64.b64encode(json.dumps({"user": "alice"}).encode()).decode() + "." + rest
    # One character of the signature changed: its first, since the last base64 character of a
    # signature carries padding bits that decoding may ignore, leaving the same signature.
    at = cookie.rindex(".") + 1
    flipped = cookie[:at] + ("A" if cookie[at] != "A" else "B") + cookie[at + 1 :]
    for value in (forged, flipped, payload, "garbage"):
        client.cookies.clear()
        client.cookies.set("session", value)
        for job_id in two_jobs:  # neither alice's nor bob's: nobody's
            assert (await client.get(f"/jobs/api/jobs/{job_id}")).status_code == 401


async def test_a_change_from_another_site_is_refused(hosted: Hosted, jobs: Underway) -> None:
    client = hosted()
    await log_in(client, "alice")
    job_id = jobs.dispatch("demo.echo", owner="alice")
    cross = {"Sec-Fetch-Site": "cross-site"}
    refused = await client.post(f"/jobs/api/jobs/{job_id}/cancel", headers=cross)
    assert refused.status_code == 403
    assert jobs.get(job_id)["status"] == "pending"  # type: ignore[index]
    assert (await client.get(f"/jobs/api/jobs/{job_id}", headers=cross)).status_code == 200
    # A bearer token is no cookie a browser adds by itself: no such check.
    with_token = await client.post(f"/jobs/api/jobs/{job_id}/cancel", headers={**cross, **ALICE})
    assert with_token.status_code == 200
    same = {"Sec-Fetch-Site": "same-origin"}
    retried = await client.post(f"/jobs/api/jobs/{job_id}/retry", headers=same)
    assert retried.status_code == 200


async def test_a_failed_hook_is_not_a_failed_token(jobs: Underway, hosted: Hosted) -> None:
    client = hosted(raising, failed_auth_limit=2)
    for _ in range(5):
        assert (await client.get("/jobs/api/jobs")).status_code == 401
    assert (await client.get("/jobs/api/jobs", headers=ALICE)).status_code == 200


async def test_the_dashboard_signs_in_with_tokens_only(hosted: Hosted) -> None:
    with_tokens = hosted()
    await log_in(with_tokens, "alice")
    page = await with_tokens.get("/jobs/", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/jobs/signin"
    assert (await with_tokens.get("/jobs/signin")).status_code == 200
    without = hosted(tokens={})
    await log_in(without, "alice")
    for path in ("/jobs/", "/jobs/jobs", "/jobs/signin"):
        response = await without.get(path)
        assert response.status_code == 403
        assert "UNDERWAY_TOKENS" in response.text
    assert (await without.post("/jobs/signin", data={"token": "x"})).status_code == 403


def test_authenticate_must_be_callable(jobs: Underway) -> None:
    with pytest.raises(TypeError, match="authenticate"):
        create_app(jobs, authenticate="alice")  # type: ignore[arg-type]
