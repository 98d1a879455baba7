"""Bad input never makes a 5xx, on either backend: bodies that are not UTF-8, arguments nested too
deep, NUL characters, values out of range, odd query parameters on dashboard pages."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx
import pytest
from web_helpers import ADMIN, ALICE, BOB, LOCAL_CLIENT, sign_in

from underway import Underway
from underway.codec import MAX_DEPTH
from underway.errors import ConfigurationError
from underway.ids import new_job_id
from underway.model import NewJob
from underway.web import create_app
from underway.web.api import scoped_unique_key
from underway.web.auth import Principal

pytestmark = pytest.mark.anyio

ADMIN_TOKEN = "admin-token-0123456789"
NUL_PATHS = ["/api/jobs/a%00b", "/api/jobs/%00", "/api/jobs/01h0000000000000000000000%00"]


def nested(depth: int) -> Any:
    """A value with `depth` levels of objects and arrays."""
    value: Any = 1
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


async def post_json(client: httpx.AsyncClient, text: str, headers: dict[str, str]) -> Any:
    return await client.post(
        "/api/jobs", content=text, headers={**headers, "content-type": "application/json"}
    )


def all_jobs(jobs: Underway) -> list[dict[str, Any]]:
    return jobs.list(limit=1000)[0]


# -- 4: a body that is neither JSON nor UTF-8 ----------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None])
@pytest.mark.parametrize("body", [b"\xff\xfe{}", b"\xff\xfe\x00\x01", b'{"task": "\xc3"}'])
async def test_a_body_that_is_not_utf8_is_a_clear_4xx(
    any_client: httpx.AsyncClient, any_jobs: Underway, content_type: str | None, body: bytes
) -> None:
    headers = {**ALICE, **({"content-type": content_type} if content_type else {})}
    response = await any_client.post("/api/jobs", content=body, headers=headers)
    assert response.status_code in (400, 415, 422), response.text
    problem = response.json()
    assert "detail" in problem
    assert "JSON" in json.dumps(problem)
    assert all_jobs(any_jobs) == []


# -- 5: arguments nested too deep ----------------------------------------------------------------


async def test_arguments_nested_past_the_limit_are_422(
    any_client: httpx.AsyncClient, any_jobs: Underway
) -> None:
    too_deep = {"task": "demo.echo", "args": {"x": nested(MAX_DEPTH)}}  # args itself is a level
    response = await post_json(any_client, json.dumps(too_deep), ALICE)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][-1] == "args"
    assert f"nested deeper than {MAX_DEPTH}" in error["msg"]
    assert all_jobs(any_jobs) == []
    deepest = {"task": "demo.echo", "args": {"x": nested(MAX_DEPTH - 1)}}
    accepted = await post_json(any_client, json.dumps(deepest), ALICE)
    assert accepted.status_code == 202, accepted.text
    read = await any_client.get(f"/api/jobs/{accepted.json()['job_id']}", headers=ALICE)
    assert read.json()["args"] == deepest["args"]


@pytest.mark.parametrize(
    "body",
    [
        nested(500),  # the whole body is echoed: it is not an object
        {"task": "demo.echo", "args": [nested(500)]},  # args are echoed: not an object
        {"task": "demo.echo", "args": {"x": nested(500)}, "priority": "high", "extra": [[1]]},
    ],
)
async def test_a_deep_body_with_another_mistake_is_422(
    any_client: httpx.AsyncClient, body: Any
) -> None:
    # The 422 echoes the input it refuses; deep input is cut short rather than failing to encode.
    response = await post_json(any_client, json.dumps(body), ALICE)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["detail"]


async def test_a_deep_stored_document_still_reads_and_lists(
    any_client: httpx.AsyncClient, any_jobs: Underway
) -> None:
    # Arguments stored before the limit existed, and a task's result: neither is checked at
    # dispatch, and one such job must not break reading it, nor everyone's list.
    now = time.time()
    old = NewJob(
        new_job_id(), "demo.echo", "default", {"x": nested(400)}, 0, 1, None, 1.0, now, now
    )
    any_jobs.store.job_enqueue(old)
    any_jobs.eager = True
    deep_result = any_jobs.dispatch("demo.nest", {"depth": 400})
    any_jobs.eager = False
    fine = any_jobs.dispatch("demo.echo", {"n": 1})
    for job_id in (old.id, deep_result, fine):
        document = await any_client.get(f"/api/jobs/{job_id}", headers=ADMIN)
        assert document.status_code == 200, document.text
        assert document.json()["job_id"] == job_id
    listing = await any_client.get("/api/jobs", headers=ADMIN)
    assert listing.status_code == 200
    assert {j["job_id"] for j in listing.json()["jobs"]} == {old.id, deep_result, fine}
    await sign_in(any_client, ADMIN_TOKEN)
    for path in ("/", "/jobs", f"/jobs/{old.id}", f"/jobs/{deep_result}", "/failed"):
        page = await any_client.get(path)
        assert page.status_code == 200, (path, page.text[:300])


# -- 6: a bad notice count on dashboard pages ----------------------------------------------------


@pytest.mark.parametrize("count", ["%C2%B2", "9" * 5000, "-1", "%EF%BC%91", "1e9"])
@pytest.mark.parametrize("path", ["/", "/jobs", "/failed", "/signin"])
async def test_a_bad_notice_count_is_ignored(
    any_client: httpx.AsyncClient, path: str, count: str
) -> None:
    if path != "/signin":
        await sign_in(any_client, ADMIN_TOKEN)
    page = await any_client.get(f"{path}?done=retried-all&n={count}")
    assert page.status_code == 200, page.text[:300]
    assert "Failed jobs queued again: 0." in page.text


# -- 7: unique keys over HTTP, and NUL characters ------------------------------------------------


async def test_unique_keys_work_over_http_on_every_backend(any_client: httpx.AsyncClient) -> None:
    first = await post_json(any_client, '{"task": "demo.echo", "unique_key": "k-1"}', ALICE)
    again = await post_json(any_client, '{"task": "demo.echo", "unique_key": "k-1"}', ALICE)
    bobs = await post_json(any_client, '{"task": "demo.echo", "unique_key": "k-1"}', BOB)
    assert (first.status_code, again.status_code, bobs.status_code) == (202, 202, 202)
    assert first.json()["job_id"] == again.json()["job_id"] != bobs.json()["job_id"]


async def test_owners_keys_cannot_collide(any_jobs: Underway) -> None:
    # Owners "a" and "a:b" with keys "b:c" and "c": however the parts are joined, they differ.
    tokens = {"token-of-a-0123456789": "a", "token-of-ab-0123456789": "a:b"}
    transport = httpx.ASGITransport(app=create_app(any_jobs, tokens=tokens), client=LOCAL_CLIENT)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        one = await post_json(
            client,
            '{"task": "demo.echo", "unique_key": "b:c"}',
            {"Authorization": "Bearer token-of-a-0123456789"},
        )
        two = await post_json(
            client,
            '{"task": "demo.echo", "unique_key": "c"}',
            {"Authorization": "Bearer token-of-ab-0123456789"},
        )
    assert one.json()["job_id"] != two.json()["job_id"]
    pairs = [("a", "b:c"), ("a:b", "c"), ("a:", "b:c"), ("1", ":a:b"), ("", "1:a")]
    scoped = {scoped_unique_key(Principal(owner), key) for owner, key in pairs}
    assert len(scoped) == len(pairs)
    assert not any("\0" in key for key in scoped if key)


@pytest.mark.parametrize("tokens", [{"token-0123456789": "a\0b"}, "token-0123456789=a\0b"])
def test_an_owner_no_backend_can_store_is_a_configuration_error(
    jobs: Underway, tokens: str | dict[str, str]
) -> None:
    # Owners are stored with the jobs they dispatch: refused at start, not at the first dispatch.
    with pytest.raises(ConfigurationError, match="entry 1") as refused:
        create_app(jobs, tokens=tokens)
    assert "token-0123456789" not in str(refused.value)


@pytest.mark.parametrize("path", NUL_PATHS)
@pytest.mark.parametrize("method", ["GET", "DELETE", "POST cancel", "POST retry", "GET events"])
async def test_a_nul_in_a_job_id_is_404(
    any_client: httpx.AsyncClient, path: str, method: str
) -> None:
    verb, _, action = method.partition(" ")
    url = f"{path}/{action}" if action else path
    response = await any_client.request(verb, url, headers=ADMIN)
    assert response.status_code == 404, response.text
    assert "no job with id" in response.json()["detail"]


@pytest.mark.parametrize("name", ["queue", "task", "owner", "cursor"])
async def test_a_nul_in_a_list_filter_is_422(any_client: httpx.AsyncClient, name: str) -> None:
    response = await any_client.get(f"/api/jobs?{name}=a%00b", headers=ADMIN)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", name]
    assert "NUL" in error["msg"]


@pytest.mark.parametrize("field", ["queue", "task", "unique_key"])
async def test_a_nul_in_a_dispatch_field_is_422(
    any_client: httpx.AsyncClient, any_jobs: Underway, field: str
) -> None:
    body = {"task": "demo.echo", field: "a\0b"}
    response = await post_json(any_client, json.dumps(body), ALICE)
    assert response.status_code == 422, response.text
    assert any(e["loc"][-1] == field and "NUL" in e["msg"] for e in response.json()["detail"])
    assert all_jobs(any_jobs) == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/jobs/a%00b", 404),
        ("/jobs?q=a%00b", 404),
        ("/jobs?queue=a%00b", 400),
        ("/jobs?task=a%00b", 400),
        ("/jobs?owner=a%00b", 400),
        ("/jobs?cursor=a%00b", 400),
        ("/failed?cursor=a%00b", 400),
        ("/live/jobs?queue=a%00b", 400),
    ],
)
async def test_a_nul_on_a_dashboard_page_is_a_4xx_page(
    any_client: httpx.AsyncClient, path: str, status: int
) -> None:
    await sign_in(any_client, ADMIN_TOKEN)
    with anyio.fail_after(10):  # a /live page that is not refused streams for ever
        page = await any_client.get(path)
    assert page.status_code == status, page.text[:300]
    assert "<html" in page.text


# -- 8: values that validate but cannot be stored -------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("delay", "1e308"),
        ("delay", "1e12"),
        ("delay", "NaN"),
        ("delay", "Infinity"),
        ("delay", "-1e-9"),
        ("priority", str(2**63)),
        ("priority", str(2**31)),
        ("priority", str(-(2**31) - 1)),
        ("priority", "1" + "0" * 5000),
    ],
)
async def test_values_that_cannot_be_stored_are_refused(
    any_client: httpx.AsyncClient, any_jobs: Underway, field: str, value: str
) -> None:
    response = await post_json(any_client, f'{{"task": "demo.echo", "{field}": {value}}}', ALICE)
    assert response.status_code in (400, 422), response.text
    assert all_jobs(any_jobs) == []


async def test_values_at_the_bounds_are_stored_and_read_back(
    any_client: httpx.AsyncClient, any_jobs: Underway
) -> None:
    from underway.validation import MAX_DELAY_SECONDS, MAX_PRIORITY, MIN_PRIORITY

    for priority, delay in ((MAX_PRIORITY, MAX_DELAY_SECONDS), (MIN_PRIORITY, 0)):
        body = {"task": "demo.echo", "priority": priority, "delay": delay}
        response = await post_json(any_client, json.dumps(body), ALICE)
        assert response.status_code == 202, response.text
        read = await any_client.get(f"/api/jobs/{response.json()['job_id']}", headers=ALICE)
        assert read.json()["priority"] == priority
    assert len((await any_client.get("/api/jobs", headers=ALICE)).json()["jobs"]) == 2
