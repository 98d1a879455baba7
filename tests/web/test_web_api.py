"""The REST API through HTTP: dispatch, read, list, cancel, retry, delete, and bad input."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from web_helpers import ADMIN, ALICE, BOB

from underway import Underway

pytestmark = pytest.mark.anyio


async def dispatch(client: httpx.AsyncClient, headers: dict[str, str], **body: object) -> str:
    response = await client.post("/api/jobs", json={"task": "demo.echo", **body}, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


async def test_dispatch_answers_202_with_the_job_id(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/jobs",
        json={"task": "demo.echo", "args": {"entry_ids": ["a", "b"]}, "queue": "reports"},
        headers=ALICE,
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["job_id"] in body["message"]
    assert body["warning"] == "no worker is running"
    assert "underway worker" in body["message"]
    document = (await client.get(f"/api/jobs/{body['job_id']}", headers=ALICE)).json()
    assert document["args"] == {"entry_ids": ["a", "b"]}
    assert document["queue"] == "reports"
    assert document["owner"] == "alice"
    assert document["warning"] == "no worker is running"


async def test_dispatch_options_reach_the_job(client: httpx.AsyncClient, jobs: Underway) -> None:
    job_id = await dispatch(client, ALICE, priority=7, delay=3600, unique_key="k1")
    document = jobs.get(job_id)
    assert document is not None
    assert document["priority"] == 7
    assert document["available_at"] > document["created_at"]
    assert await dispatch(client, ALICE, unique_key="k1") == job_id


async def test_unique_keys_are_per_owner(client: httpx.AsyncClient) -> None:
    alice_job = await dispatch(client, ALICE, unique_key="fix-all")
    bob_job = await dispatch(client, BOB, unique_key="fix-all")
    assert bob_job != alice_job


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"task": "no.such.task"}, "task", "no task named 'no.such.task'"),
        ({"task": "demo.echo", "args": [1, 2]}, "args", "valid dictionary"),
        ({"task": "demo.echo", "args": "x"}, "args", "valid dictionary"),
        ({"task": 12}, "task", "valid string"),
        ({"args": {}}, "task", "Field required"),
        ({"task": "demo.echo", "priority": "high"}, "priority", "valid integer"),
        ({"task": "demo.echo", "delay": -1}, "delay", "greater than or equal to 0"),
        ({"task": "demo.echo", "queue": ""}, "queue", "at least 1 character"),
        ({"task": "demo.echo", "kwargs": {}}, "kwargs", "Extra inputs"),
        ({"task": "demo.echo", "args": {"s": "\ud800"}}, "args", "plain JSON"),
    ],
)
async def test_bad_dispatch_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str, words: str
) -> None:
    content = json.dumps(body)  # json.dumps keeps a lone surrogate as \ud800
    response = await client.post(
        "/api/jobs", content=content, headers={**ALICE, "content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field and words in e["msg"] for e in errors), errors


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"",
        b"[1, 2]",
        b'{"task": "demo.echo", "args": {"x": NaN}}',
        b"\xff\xfe",
        b"[" * 100_000,
    ],
)
async def test_malformed_json_is_a_client_error_never_500(
    client: httpx.AsyncClient, content: bytes
) -> None:
    response = await client.post(
        "/api/jobs", content=content, headers={**ALICE, "content-type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert "detail" in response.json()


async def test_body_over_one_mib_is_413(client: httpx.AsyncClient) -> None:
    big = json.dumps({"task": "demo.echo", "args": {"blob": "x" * (1 << 20)}}).encode()
    response = await client.post(
        "/api/jobs", content=big, headers={**ALICE, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


async def test_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post(
        "/api/jobs", content=chunks(), headers={**ALICE, "content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_body_just_under_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    args = {"blob": "x" * ((1 << 20) - 100)}
    body = json.dumps({"task": "demo.echo", "args": args}).encode()
    assert len(body) <= 1 << 20
    response = await client.post(
        "/api/jobs", content=body, headers={**ALICE, "content-type": "application/json"}
    )
    assert response.status_code == 202


async def test_get_unknown_job_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/jobs/01h00000000000000000000000", headers=ALICE)
    assert response.status_code == 404
    assert "no job with id" in response.json()["detail"]


async def test_list_filters_and_paginates_newest_first(client: httpx.AsyncClient) -> None:
    ids = [await dispatch(client, ALICE, queue="q1") for _ in range(5)]
    other = await dispatch(client, ALICE, queue="q2")
    seen, cursor = [], None
    while True:
        params = {"queue": "q1", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/jobs", params=params, headers=ALICE)).json()
        seen += [job["job_id"] for job in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    by_task = (await client.get("/api/jobs?task=demo.echo&status=pending", headers=ALICE)).json()
    assert other in [job["job_id"] for job in by_task["jobs"]]
    nothing = (await client.get("/api/jobs?task=demo.boom", headers=ALICE)).json()
    assert nothing == {"jobs": [], "next_cursor": None}


@pytest.mark.parametrize("query", ["status=done", "limit=0", "limit=1001", "limit=x"])
async def test_list_rejects_bad_parameters(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/jobs?{query}", headers=ALICE)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


async def test_cancel_then_retry_then_conflicts(client: httpx.AsyncClient) -> None:
    job_id = await dispatch(client, ALICE)
    retry_pending = await client.post(f"/api/jobs/{job_id}/retry", headers=ALICE)
    assert retry_pending.status_code == 409
    assert "it is pending" in retry_pending.json()["detail"]
    cancelled = await client.post(f"/api/jobs/{job_id}/cancel", headers=ALICE)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = await client.post(f"/api/jobs/{job_id}/cancel", headers=ALICE)
    assert again.status_code == 409
    assert "it is cancelled" in again.json()["detail"]
    retried = await client.post(f"/api/jobs/{job_id}/retry", headers=ALICE)
    assert retried.status_code == 200
    assert retried.json()["status"] == "pending"


async def test_retry_of_a_completed_job_is_409(client: httpx.AsyncClient, jobs: Underway) -> None:
    jobs.eager = True
    job_id = await dispatch(client, ALICE, args={"x": 1})
    assert jobs.get(job_id)["status"] == "completed"  # type: ignore[index]
    response = await client.post(f"/api/jobs/{job_id}/retry", headers=ALICE)
    assert response.status_code == 409
    assert "completed" in response.json()["detail"]


async def test_cancel_and_retry_unknown_job_are_404(client: httpx.AsyncClient) -> None:
    for verb in ("cancel", "retry"):
        response = await client.post(f"/api/jobs/nope/{verb}", headers=ALICE)
        assert response.status_code == 404


async def test_delete(client: httpx.AsyncClient, jobs: Underway) -> None:
    job_id = await dispatch(client, ALICE)
    deleted = await client.delete(f"/api/jobs/{job_id}", headers=ALICE)
    assert deleted.status_code == 200
    assert deleted.json() == {"job_id": job_id, "deleted": True}
    assert (await client.get(f"/api/jobs/{job_id}", headers=ALICE)).status_code == 404
    assert (await client.delete(f"/api/jobs/{job_id}", headers=ALICE)).status_code == 404
    running = await dispatch(client, ALICE)
    assert jobs.store.job_claim_one("test-worker", running, 30, time.time()) is not None
    busy = await client.delete(f"/api/jobs/{running}", headers=ALICE)
    assert busy.status_code == 409
    assert "processing" in busy.json()["detail"]


async def test_stats(client: httpx.AsyncClient, jobs: Underway) -> None:
    await dispatch(client, ALICE, queue="mail")
    jobs.eager = True
    await dispatch(client, ALICE)
    response = await client.get("/api/stats", headers=ADMIN)
    assert response.status_code == 200
    stats = response.json()
    assert stats["queues"]["mail"] == {"pending": 1}
    assert stats["queues"]["default"] == {"completed": 1}
    assert stats["completed_last_minute"] == 1
    assert stats["workers_alive"] == 0
    assert len(stats["throughput"]) == 10
    assert stats["throughput"][-1]["completed"] == 1


async def test_openapi_describes_the_api(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/events", "/api/stats"} <= set(
        schema["paths"]
    )
    assert not any(path.startswith("/jobs") for path in schema["paths"])  # pages stay out
    request = schema["components"]["schemas"]["DispatchRequest"]
    assert request["required"] == ["task"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
