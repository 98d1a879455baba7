"""Dashboard sign-in: signed HttpOnly SameSite cookies, CSRF on every form, nothing secret shown."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from web_helpers import ALICE, LOCAL_CLIENT, TOKENS, csrf_of, sign_in

from underway import Underway
from underway.web import create_app

pytestmark = pytest.mark.anyio

ALICE_TOKEN = "alice-token-0123456789"


async def test_pages_send_strangers_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/", "/jobs", "/failed", "/jobs/abc"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin")
    response = await client.get("/jobs?status=failed", follow_redirects=False)
    assert response.headers["location"] == "/signin?next=%2Fjobs%3Fstatus%3Dfailed"


async def test_sign_in_sets_a_signed_httponly_samesite_cookie(client: httpx.AsyncClient) -> None:
    page = await client.get("/signin")
    assert page.status_code == 200
    response = await client.post(
        "/signin",
        data={"csrf": csrf_of(page.text), "token": ALICE_TOKEN, "next": "/jobs"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/jobs"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("underway_session=")
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=lax", "path=/"} <= flags
    assert "secure" not in flags  # plain http; see the https test
    assert ALICE_TOKEN not in cookie
    overview = await client.get("/")
    assert overview.status_code == 200
    assert "alice" in overview.text
    assert ALICE_TOKEN not in overview.text


async def test_cookie_is_secure_over_https(web: Any) -> None:
    transport = httpx.ASGITransport(app=web, client=LOCAL_CLIENT)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await sign_in(client, ALICE_TOKEN)
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert "; secure" in cookie


async def test_wrong_token_is_refused_and_not_echoed(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, "guess-token-xyz")
    assert response.status_code == 401
    assert "not valid" in response.text
    assert "guess-token-xyz" not in response.text
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_sign_in_without_csrf_is_refused(client: httpx.AsyncClient) -> None:
    await client.get("/signin")
    response = await client.post("/signin", data={"token": ALICE_TOKEN})
    assert response.status_code == 403
    assert "expired" in response.text
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_every_form_action_needs_the_csrf_token(
    client: httpx.AsyncClient, jobs: Underway
) -> None:
    await sign_in(client, ALICE_TOKEN)
    job_id = jobs.dispatch("demo.echo", owner="alice")
    page = await client.get(f"/jobs/{job_id}")
    good = csrf_of(page.text)
    for path in (f"/jobs/{job_id}/cancel", f"/jobs/{job_id}/delete", "/failed/retry-all"):
        for form in (
            {},
            {"csrf": ""},
            {"csrf": "0" * 64},
            {"csrf": good[:-1] + "x"},
            {"csrf": "é"},
        ):
            response = await client.post(path, data=form, follow_redirects=False)
            assert response.status_code == 403, (path, form)
    assert jobs.get(job_id)["status"] == "pending"  # type: ignore[index]
    response = await client.post(
        f"/jobs/{job_id}/cancel", data={"csrf": good}, follow_redirects=False
    )
    assert response.status_code == 303
    assert jobs.get(job_id)["status"] == "cancelled"  # type: ignore[index]


async def test_a_token_from_another_session_is_refused(web: Any, jobs: Underway) -> None:
    job_id = jobs.dispatch("demo.echo", owner="alice")
    transport = httpx.ASGITransport(app=web, client=LOCAL_CLIENT)
    async with (
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", follow_redirects=True
        ) as mallory,
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", follow_redirects=True
        ) as victim,
    ):
        await sign_in(mallory, ALICE_TOKEN)
        await sign_in(victim, ALICE_TOKEN)
        planted = csrf_of((await mallory.get(f"/jobs/{job_id}")).text)
        response = await victim.post(f"/jobs/{job_id}/cancel", data={"csrf": planted})
        assert response.status_code == 403
    assert jobs.get(job_id)["status"] == "pending"  # type: ignore[index]


async def test_cookie_reads_the_api_but_never_changes_it(
    client: httpx.AsyncClient, jobs: Underway
) -> None:
    await sign_in(client, ALICE_TOKEN)
    job_id = jobs.dispatch("demo.echo", owner="alice")
    assert (await client.get(f"/api/jobs/{job_id}")).status_code == 200
    assert (await client.post(f"/api/jobs/{job_id}/cancel")).status_code == 401
    assert (await client.post("/api/jobs", json={"task": "demo.echo"})).status_code == 401


async def test_forged_or_revoked_sessions_are_ignored(jobs: Underway) -> None:
    web = create_app(jobs, tokens=TOKENS, secret_key="k" * 32)
    transport = httpx.ASGITransport(app=web, client=LOCAL_CLIENT)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", follow_redirects=True
    ) as client:
        await sign_in(client, ALICE_TOKEN)
        cookie = client.cookies["underway_session"]
    payload, _, signature = cookie.partition(".")
    forged = payload.replace("a", "b", 1) + "." + signature
    revoked = create_app(jobs, tokens={"other-token-1": "alice"}, secret_key="k" * 32)
    for app, value in ((web, forged), (revoked, cookie)):
        transport = httpx.ASGITransport(app=app, client=LOCAL_CLIENT)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            cookies={"underway_session": value},
            follow_redirects=True,
        ) as client:
            assert (await client.get("/", follow_redirects=False)).status_code == 303
            assert (await client.get("/api/jobs")).status_code == 401


async def test_sign_out(client: httpx.AsyncClient) -> None:
    await sign_in(client, ALICE_TOKEN)
    page = await client.get("/")
    refused = await client.post("/signout", data={})
    assert refused.status_code == 403
    response = await client.post("/signout", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 200
    assert "Signed out" in response.text
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_redirects_stay_on_this_site(client: httpx.AsyncClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        page = await client.get("/signin")  # each sign-in starts a new session
        response = await client.post(
            "/signin",
            data={"csrf": csrf_of(page.text), "token": ALICE_TOKEN, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/"


async def test_pages_never_show_tokens_or_cookies(
    client: httpx.AsyncClient, jobs: Underway
) -> None:
    await sign_in(client, ALICE_TOKEN)
    job_id = jobs.dispatch("demo.boom", owner="alice")
    jobs.eager = True
    jobs.dispatch("demo.boom", owner="alice")
    cookie = client.cookies["underway_session"]
    for path in ("/", "/jobs", "/failed", f"/jobs/{job_id}", "/signin"):
        html = (await client.get(path)).text
        for secret in (*TOKENS, cookie):
            assert secret not in html, path
    assert (await client.get("/api/jobs", headers=ALICE)).status_code == 200
