"""GET /api/jobs/{id}/output: a job's live output from a character offset, with the access of
GET /api/jobs/{id} (owner, admin, ?view=), bad offsets and limits refused, and the rate, ETA
and output length in the status document."""

from __future__ import annotations

import time

import httpx
import pytest
import web_jobs
from web_helpers import ADMIN, ALICE, BOB, LOCAL_CLIENT, TOKENS, sign_in

from underway import Underway
from underway.job import OUTPUT_LIMIT
from underway.model import Lease, ProgressWrite
from underway.web import create_app

pytestmark = pytest.mark.anyio

# One, two, three and four UTF-8 bytes a character: offsets count characters.
TEXT = "step 1 ok\nété ✓ 😀\n"


def running_with_output(jobs: Underway, *writes: ProgressWrite | str, owner: str = "alice") -> str:
    """A job of owner's, claimed as a worker would, that has streamed each text given."""
    job_id = jobs.dispatch("demo.echo", owner=owner)
    record = jobs.store.job_claim_one("w1", job_id, 60.0, time.time())
    assert record is not None
    lease = Lease(job_id, record.attempts)
    for write in writes:
        progress = write if isinstance(write, ProgressWrite) else ProgressWrite(lease, output=write)
        progress.lease = lease
        assert jobs.store.job_write_progress("w1", [progress]) == []
    return job_id


async def read(client: httpx.AsyncClient, job_id: str, **params: object) -> httpx.Response:
    return await client.get(f"/api/jobs/{job_id}/output", params=params, headers=ALICE)


async def test_output_reads_from_an_offset_on_each_backend(
    any_client: httpx.AsyncClient, any_jobs: Underway
) -> None:
    job_id = running_with_output(any_jobs, TEXT, TEXT * 3)
    whole = TEXT * 4
    response = await read(any_client, job_id)
    assert response.status_code == 200
    assert response.json() == {
        "job_id": job_id, "offset": 0, "text": whole, "output_length": len(whole)
    }  # fmt: skip
    for offset, limit in ((3, 5), (len(TEXT) - 2, 4), (len(whole) - 1, 10)):
        body = (await read(any_client, job_id, offset=offset, limit=limit)).json()
        assert (body["offset"], body["text"]) == (offset, whole[offset : offset + limit])
        assert body["output_length"] == len(whole)
    past = (await read(any_client, job_id, offset=len(whole) + 5)).json()
    assert (past["text"], past["output_length"]) == ("", len(whole))
    huge = (await read(any_client, job_id, offset=10**20)).json()
    assert huge["text"] == ""


async def test_a_job_without_output_reads_empty(client: httpx.AsyncClient, jobs: Underway) -> None:
    job_id = jobs.dispatch("demo.echo", owner="alice")
    body = (await read(client, job_id)).json()
    assert (body["text"], body["output_length"]) == ("", 0)


async def test_the_limit_defaults_to_64_kib_of_characters(
    client: httpx.AsyncClient, jobs: Underway
) -> None:
    job_id = running_with_output(jobs, "a" * 70_000)
    body = (await read(client, job_id)).json()
    assert (len(body["text"]), body["output_length"]) == (65536, 70_000)
    body = (await read(client, job_id, limit=OUTPUT_LIMIT)).json()
    assert len(body["text"]) == 70_000


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"offset": -1}, "offset", "greater than or equal to 0"),
        ({"offset": "abc"}, "offset", "valid integer"),
        ({"offset": "1.5"}, "offset", "valid integer"),
        ({"limit": -1}, "limit", "greater than or equal to 0"),
        ({"limit": OUTPUT_LIMIT + 1}, "limit", "less than or equal to 1000000"),
        ({"limit": "many"}, "limit", "valid integer"),
    ],
)
async def test_a_bad_offset_or_limit_is_422_naming_it(
    client: httpx.AsyncClient, jobs: Underway, params: dict[str, object], field: str, words: str
) -> None:
    job_id = running_with_output(jobs, TEXT)
    response = await read(client, job_id, **params)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert words in error["msg"]


async def test_output_has_the_access_of_the_job(client: httpx.AsyncClient, jobs: Underway) -> None:
    job_id = running_with_output(jobs, TEXT)
    path = f"/api/jobs/{job_id}/output"
    assert (await client.get(path, headers=ALICE)).json()["text"] == TEXT
    assert (await client.get(path, headers=ADMIN)).json()["text"] == TEXT
    hidden = await client.get(path, headers=BOB)
    assert hidden.status_code == 404
    assert hidden.json() == {"detail": f"no job with id {job_id}"}  # as for a missing job
    assert (await client.get(path)).status_code == 401
    assert (
        await client.get("/api/jobs/01aaaaaaaaaaaaaaaaaaaaaaaa/output", headers=ADMIN)
    ).status_code == 404


async def test_a_view_token_reads_the_output_of_its_job_only(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNDERWAY_SECRET_KEY", "output-test-secret-key")
    jobs = web_jobs.make_app(sqlite_url)  # after the key is set: its view links use it
    mine, other = running_with_output(jobs, TEXT), running_with_output(jobs, "other")
    token = jobs.view_token(mine)
    transport = httpx.ASGITransport(app=create_app(jobs, tokens=TOKENS), client=LOCAL_CLIENT)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
        seen = await anonymous.get(f"/api/jobs/{mine}/output", params={"view": token})
        assert (seen.status_code, seen.json()["text"]) == (200, TEXT)
        refused = await anonymous.get(f"/api/jobs/{other}/output", params={"view": token})
        assert refused.status_code == 404
    jobs.store.close()


async def test_the_status_document_carries_rate_eta_and_output_length(
    client: httpx.AsyncClient, jobs: Underway
) -> None:
    progress = ProgressWrite(Lease("", 0), total=100, processed=20, rate=8.0, output=TEXT)
    job_id = running_with_output(jobs, progress)
    document = (await client.get(f"/api/jobs/{job_id}", headers=ALICE)).json()
    assert document["output_length"] == len(TEXT)
    assert (document["progress"]["rate_per_s"], document["progress"]["eta_s"]) == (8.0, 10.0)


async def test_openapi_documents_the_output_read(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/api/jobs/{job_id}/output"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"job_id", "offset", "limit", "view"} <= set(parameters)
    assert parameters["offset"]["schema"]["minimum"] == 0
    assert parameters["limit"]["schema"]["maximum"] == OUTPUT_LIMIT
    assert parameters["limit"]["schema"]["default"] == 65536
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/JobOutput"}
    output = schema["components"]["schemas"]["JobOutput"]["properties"]
    assert set(output) == {"job_id", "offset", "text", "output_length"}
    progress = schema["components"]["schemas"]["Progress"]["properties"]
    assert {"rate_per_s", "eta_s"} <= set(progress)
    assert "output_length" in schema["components"]["schemas"]["StatusDocument"]["properties"]


async def test_the_job_page_shows_rate_and_time_left(
    client: httpx.AsyncClient, jobs: Underway
) -> None:
    progress = ProgressWrite(Lease("", 0), total=1000, processed=100, rate=2.5)
    job_id = running_with_output(jobs, progress)
    await sign_in(client, "admin-token-0123456789")
    html = (await client.get(f"/jobs/{job_id}")).text
    assert '<span data-field="rate">2.5 / s</span>' in html
    assert '<span data-field="eta">6 min 0 s</span>' in html  # 900 items at 2.5 a second
    unmeasured = running_with_output(jobs, "no progress yet")
    html = (await client.get(f"/jobs/{unmeasured}")).text
    assert '<span data-field="rate">-</span>' in html
    assert '<span data-field="eta">-</span>' in html
