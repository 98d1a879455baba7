"""Tokens, owners and the open local mode: 401s, 403s, and 404 for other owners' jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import ADMIN, ALICE, BOB, csrf_of, sign_in

from underway import Underway
from underway.errors import ConfigurationError
from underway.web import create_app
from underway.web.auth import load_tokens, parse_tokens

pytestmark = pytest.mark.anyio

SOME_ID = "01h00000000000000000000000"
API_CALLS = [
    ("POST", "/api/jobs"),
    ("GET", "/api/jobs"),
    ("GET", f"/api/jobs/{SOME_ID}"),
    ("DELETE", f"/api/jobs/{SOME_ID}"),
    ("POST", f"/api/jobs/{SOME_ID}/cancel"),
    ("POST", f"/api/jobs/{SOME_ID}/retry"),
    ("GET", f"/api/jobs/{SOME_ID}/events"),
    ("GET", "/api/stats"),
    ("GET", "/metrics"),
]


def client_for(web: Any, host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=web, client=(host, 40000))
    return httpx.AsyncClient(
        transport=transport, base_url="http://testserver", follow_redirects=True
    )


async def alice_job(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/jobs", json={"task": "demo.echo"}, headers=ALICE)
    return str(response.json()["job_id"])


@pytest.mark.parametrize(("method", "path"), API_CALLS)
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}]
)
async def test_missing_or_wrong_token_is_401(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    body = {"json": {"task": "demo.echo"}} if method == "POST" else {}
    response = await client.request(method, path, headers=headers, **body)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "token" in response.json()["detail"]


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "workers_alive": 0}


@pytest.mark.parametrize("path", ["/api/stats", "/metrics"])
async def test_server_wide_figures_are_for_admin_only(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path, headers=ALICE)).status_code == 403
    assert (await client.get(path, headers=ADMIN)).status_code == 200


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/events"), ("POST", "/cancel"), ("POST", "/retry"), ("DELETE", "")],
)
async def test_another_owners_job_is_404_everywhere(
    client: httpx.AsyncClient, method: str, suffix: str
) -> None:
    job_id = await alice_job(client)
    response = await client.request(method, f"/api/jobs/{job_id}{suffix}", headers=BOB)
    assert response.status_code == 404
    assert response.json() == {"detail": f"no job with id {job_id}"}
    # And the job is untouched.
    document = (await client.get(f"/api/jobs/{job_id}", headers=ALICE)).json()
    assert document["status"] == "pending"


async def test_lists_show_only_the_owners_jobs(client: httpx.AsyncClient) -> None:
    mine = await alice_job(client)
    bobs = (await client.post("/api/jobs", json={"task": "demo.echo"}, headers=BOB)).json()
    as_bob = (await client.get("/api/jobs", headers=BOB)).json()["jobs"]
    assert [d["job_id"] for d in as_bob] == [bobs["job_id"]]
    sneaky = (await client.get("/api/jobs?owner=alice", headers=BOB)).json()["jobs"]
    assert [d["job_id"] for d in sneaky] == [bobs["job_id"]]
    as_admin = (await client.get("/api/jobs", headers=ADMIN)).json()["jobs"]
    assert {d["job_id"] for d in as_admin} == {mine, bobs["job_id"]}
    only_alice = (await client.get("/api/jobs?owner=alice", headers=ADMIN)).json()["jobs"]
    assert [d["job_id"] for d in only_alice] == [mine]


async def test_admin_operates_any_job(client: httpx.AsyncClient) -> None:
    job_id = await alice_job(client)
    assert (await client.get(f"/api/jobs/{job_id}", headers=ADMIN)).status_code == 200
    cancelled = await client.post(f"/api/jobs/{job_id}/cancel", headers=ADMIN)
    assert cancelled.json()["status"] == "cancelled"
    stream = await client.get(f"/api/jobs/{job_id}/events", headers=ADMIN)
    assert stream.status_code == 200
    assert '"status":"cancelled"' in stream.text


async def test_another_owners_job_page_and_actions_are_404(client: httpx.AsyncClient) -> None:
    job_id = await alice_job(client)
    await sign_in(client, "bob-token-0123456789")
    page = await client.get(f"/jobs/{job_id}")
    assert page.status_code == 404
    csrf = csrf_of(page.text)
    for verb in ("cancel", "retry", "delete"):
        response = await client.post(f"/jobs/{job_id}/{verb}", data={"csrf": csrf})
        assert response.status_code == 404
    search = await client.get(f"/jobs?q={job_id}")
    assert search.status_code == 404
    listing = await client.get("/jobs")
    assert job_id not in listing.text
    assert (await client.get(f"/api/jobs/{job_id}", headers=ALICE)).json()["status"] == "pending"


# -- open local mode -----------------------------------------------------------------------------


async def test_without_tokens_local_clients_are_admin(jobs: Underway) -> None:
    web = create_app(jobs, tokens={})
    async with client_for(web) as client:
        created = await client.post("/api/jobs", json={"task": "demo.echo"})
        assert created.status_code == 202
        document = (await client.get(f"/api/jobs/{created.json()['job_id']}")).json()
        assert document["owner"] is None
        assert (await client.get("/api/stats")).status_code == 200
        page = await client.get("/")
        assert page.status_code == 200
        assert "Open local mode" in page.text
        assert (await client.get("/signin", follow_redirects=False)).status_code == 303


@pytest.mark.parametrize("path", ["/api/jobs", "/api/stats", "/", "/jobs", "/failed"])
async def test_without_tokens_remote_clients_are_refused(jobs: Underway, path: str) -> None:
    web = create_app(jobs, tokens={})
    async with client_for(web, host="203.0.113.9") as client:
        response = await client.get(path)
        assert response.status_code == 403
        assert "this machine" in response.text
        assert (await client.get("/healthz")).status_code == 200


async def test_tokens_come_from_the_environment(
    jobs: Underway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNDERWAY_TOKENS", "env-token-1=carol")
    async with client_for(create_app(jobs), host="203.0.113.9") as client:
        assert (await client.get("/api/jobs")).status_code == 401
        ok = await client.get("/api/jobs", headers={"Authorization": "Bearer env-token-1"})
        assert ok.status_code == 200


# -- token configuration -------------------------------------------------------------------------


def test_token_pairs_and_files(tmp_path: Path) -> None:
    assert parse_tokens("a=alice, b=bob") == {"a": "alice", "b": "bob"}
    file = tmp_path / "tokens"
    file.write_text("# operators\nt1=admin\n\nt2 = dave\n")
    assert load_tokens(str(file)) == {"t1": "admin", "t2": "dave"}
    assert load_tokens("") == {}


@pytest.mark.parametrize("text", ["sekrit-no-owner", "a=alice,sekrit=", "a=alice,a=bob"])
def test_bad_tokens_are_refused_without_echoing_them(text: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_tokens(text)
    assert "sekrit" not in str(caught.value)
    assert "UNDERWAY_TOKENS" in str(caught.value)


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        (None, True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("localhost", False),  # a name is only as good as whoever forwarded it
        ("testclient", False),
    ],
)
def test_which_clients_count_as_this_machine(host: str | None, local: bool) -> None:
    from underway.web.auth import is_loopback

    assert is_loopback(host) is local
