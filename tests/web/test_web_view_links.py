"""View links: Underway.view_token(job_id) reads that one job, its document and its event
stream, without any other credential; anything else about it is a 404."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from web_helpers import ALICE, BOB, LOCAL_CLIENT, TOKENS, live_server

from underway import Underway, viewlinks
from underway.errors import ConfigurationError
from underway.web import create_app

pytestmark = pytest.mark.anyio

KEY = "view-link-test-secret-key"


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dispatching process and the server share UNDERWAY_SECRET_KEY."""
    monkeypatch.setenv("UNDERWAY_SECRET_KEY", KEY)


@pytest.fixture
async def anonymous(web: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no token and no cookie, of a server that has tokens (not the open mode)."""
    transport = httpx.ASGITransport(app=web, client=LOCAL_CLIENT)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def job_a(jobs: Underway) -> str:
    return jobs.dispatch("demo.echo", {"n": 1}, owner="alice")


@pytest.fixture
def job_b(jobs: Underway) -> str:
    return jobs.dispatch("demo.echo", {"n": 2}, owner="alice")


def first_data(text: str) -> dict[str, Any]:
    return dict(json.loads(next(ln[6:] for ln in text.splitlines() if ln.startswith("data: "))))


async def test_a_view_token_reads_its_job(
    anonymous: httpx.AsyncClient, jobs: Underway, job_a: str
) -> None:
    token = jobs.view_token(job_a)
    assert re.fullmatch(r"[0-9]{10}\.[A-Za-z0-9_-]{22}", token), token  # URL-safe, short
    assert (await anonymous.get(f"/api/jobs/{job_a}")).status_code == 401
    response = await anonymous.get(f"/api/jobs/{job_a}", params={"view": token})
    assert response.status_code == 200
    assert response.json()["job_id"] == job_a
    assert response.json()["args"] == {"n": 1}
    jobs.cancel(job_a)  # ended: the stream sends the document once and ends
    stream = await anonymous.get(f"/api/jobs/{job_a}/events", params={"view": token})
    assert stream.status_code == 200
    assert first_data(stream.text)["status"] == "cancelled"


def test_a_view_token_follows_a_live_job_over_a_socket(jobs: Underway, job_a: str) -> None:
    token = jobs.view_token(job_a, ttl=60)
    with (
        live_server(create_app(jobs, tokens=TOKENS)) as url,
        httpx.Client(base_url=url, timeout=10.0) as client,
        client.stream("GET", f"/api/jobs/{job_a}/events?view={token}") as stream,
    ):
        assert stream.status_code == 200
        line = next(ln for ln in stream.iter_lines() if ln.startswith("data: "))
        assert json.loads(line[6:])["status"] == "pending"


async def test_a_view_token_reads_no_other_job(
    anonymous: httpx.AsyncClient, jobs: Underway, job_a: str, job_b: str
) -> None:
    token = jobs.view_token(job_a)
    for path in (f"/api/jobs/{job_b}", f"/api/jobs/{job_b}/events"):
        response = await anonymous.get(path, params={"view": token})
        assert response.status_code == 404
        assert response.json() == {"detail": f"no job with id {job_b}"}
    for path in ("/api/jobs", "/api/stats", "/metrics"):
        assert (await anonymous.get(path, params={"view": token})).status_code == 401


@pytest.mark.parametrize(
    ("method", "suffix"), [("POST", "/cancel"), ("POST", "/retry"), ("DELETE", "")]
)
async def test_a_view_token_changes_nothing(
    anonymous: httpx.AsyncClient, jobs: Underway, job_a: str, method: str, suffix: str
) -> None:
    token = jobs.view_token(job_a)
    response = await anonymous.request(method, f"/api/jobs/{job_a}{suffix}?view={token}")
    assert response.status_code == 401
    assert jobs.get(job_a)["status"] == "pending"  # type: ignore[index]


def altered(token: str) -> list[str]:
    """The token with one character changed, at each end of each part."""
    expiry, signature = token.split(".")

    def swap(text: str, i: int, alphabet: str) -> str:
        return text[:i] + next(c for c in alphabet if c != text[i]) + text[i + 1 :]

    digits, b64 = "0123456789", "ABCabc-_"
    return [
        f"{swap(expiry, 0, digits)}.{signature}",
        f"{swap(expiry, len(expiry) - 1, digits)}.{signature}",
        f"{expiry}.{swap(signature, 0, b64)}",
        f"{expiry}.{swap(signature, len(signature) - 1, b64)}",
        f"0{expiry}.{signature}",  # the same expiry, spelled otherwise
        f"{expiry}.{signature}=",
        f"{expiry}{signature}",
    ]


def refused_tokens(job_a: str, job_b: str) -> list[str]:
    key = KEY.encode()
    good = viewlinks.sign(key, job_a)
    return [
        *altered(good),
        viewlinks.sign(key, job_a, ttl=60, now=time.time() - 3600),  # expired an hour ago
        viewlinks.sign(key, job_a, ttl=1, now=time.time() - 2),  # expired a second ago
        viewlinks.sign(key, job_b),  # another job's
        viewlinks.sign(b"another-key", job_a),  # another key
        viewlinks.sign(KEY.upper().encode(), job_a),
        *["", ".", "..", "abc", "1.2", "-1." + good.split(".")[1], " " + good, good + " "],
        "9" * 13 + "." + good.split(".")[1],  # an expiry too long to be read
        "99999999999." + good.split(".")[1],
        "١٢٣٤٥٦٧٨٩٠." + good.split(".")[1],  # digits to str.isdigit, not ASCII
        "x" * 20_000,
        "\0",
        "é.é",
        good.replace(".", "%2E"),
    ]


async def test_refused_tokens_are_404_everywhere(
    anonymous: httpx.AsyncClient, job_a: str, job_b: str
) -> None:
    for token in refused_tokens(job_a, job_b):
        for path in (f"/api/jobs/{job_a}", f"/api/jobs/{job_a}/events"):
            response = await anonymous.get(path, params={"view": token})
            assert response.status_code == 404, (token, path)
            assert response.json() == {"detail": f"no job with id {job_a}"}
    # Not UTF-8, NUL, a bad escape, an encoded lone surrogate: as the bytes arrive.
    for raw in ("%FF%00%ZZ", "%ED%B3%BF", "a&view=b", "%F0%9F%98%80.%F0%9F%98%80"):
        assert (await anonymous.get(f"/api/jobs/{job_a}?view={raw}")).status_code == 404


async def test_a_view_token_decides_alone(
    anonymous: httpx.AsyncClient, jobs: Underway, job_a: str
) -> None:
    """?view= is checked on its own: with a valid token, another owner's header does not hide
    the job; with a refused one, the owner's own header does not show it."""
    token = jobs.view_token(job_a)
    with_bob = await anonymous.get(f"/api/jobs/{job_a}?view={token}", headers=BOB)
    assert with_bob.status_code == 200
    expired = viewlinks.sign(KEY.encode(), job_a, ttl=1, now=time.time() - 60)
    with_alice = await anonymous.get(f"/api/jobs/{job_a}?view={expired}", headers=ALICE)
    assert with_alice.status_code == 404
    assert (await anonymous.get(f"/api/jobs/{job_a}", headers=ALICE)).status_code == 200


async def test_the_server_checks_with_the_dispatchers_key(
    jobs: Underway, job_a: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = jobs.view_token(job_a)  # UNDERWAY_SECRET_KEY
    explicit = Underway(jobs.database_url, secret_key="explicit-key").view_token(job_a)
    servers = {
        "env": (create_app(jobs, tokens=TOKENS), token),
        "create_app": (create_app(jobs, tokens=TOKENS, secret_key="explicit-key"), explicit),
    }
    monkeypatch.delenv("UNDERWAY_SECRET_KEY")
    servers["app"] = (create_app(Underway(jobs.database_url, secret_key=KEY), tokens=TOKENS), token)
    servers["none"] = (create_app(jobs, tokens=TOKENS), token)
    for name, (server, good) in servers.items():
        transport = httpx.ASGITransport(app=server, client=LOCAL_CLIENT)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get(f"/api/jobs/{job_a}", params={"view": good})
            assert response.status_code == (404 if name == "none" else 200), name
            other = explicit if good == token else token
            assert (await client.get(f"/api/jobs/{job_a}?view={other}")).status_code == 404


async def test_view_links_respect_the_open_modes_local_only_rule(
    jobs: Underway, job_a: str
) -> None:
    transport = httpx.ASGITransport(app=create_app(jobs, tokens={}), client=("203.0.113.5", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(f"/api/jobs/{job_a}", params={"view": jobs.view_token(job_a)})
        assert response.status_code == 403


def test_view_token_needs_a_key_and_a_sensible_ttl(
    jobs: Underway, job_a: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNDERWAY_SECRET_KEY", "")
    with pytest.raises(ConfigurationError, match="UNDERWAY_SECRET_KEY"):
        jobs.view_token(job_a)
    monkeypatch.delenv("UNDERWAY_SECRET_KEY")
    with pytest.raises(ConfigurationError, match="secret_key"):
        jobs.view_token(job_a)
    keyed = Underway(jobs.database_url, secret_key=b"bytes-key")
    for ttl in (0, -5, float("nan"), float("inf"), 10.0**20):
        with pytest.raises(ValueError, match="ttl"):
            keyed.view_token(job_a, ttl=ttl)
    with pytest.raises(ValueError, match="job id"):
        keyed.view_token("")
    assert viewlinks.verify(b"bytes-key", job_a, keyed.view_token(job_a, ttl=0.5))
    keyed.store.close()


def test_expiry_is_whole_seconds_and_checked_against_the_clock() -> None:
    key = b"k"
    token = viewlinks.sign(key, "job", ttl=100, now=1_000.2)
    assert token.startswith("1101.")
    assert viewlinks.verify(key, "job", token, now=1_100.9)
    assert not viewlinks.verify(key, "job", token, now=1_101)
    assert not viewlinks.verify(key, "job2", token, now=1_000)
    assert not viewlinks.verify(b"", "job", token, now=1_000)
