"""Fuzzing with hypothesis: odd dispatch bodies and list filters never make a 5xx, on either
backend. NUL characters, lone surrogates, bytes that are not UTF-8, huge and non-finite numbers,
deep nesting, wrong content types. Deterministic (derandomized, no example database) and bounded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import quote

import anyio.from_thread
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_helpers import ADMIN, ALICE, LOCAL_CLIENT, TOKENS, csrf_of

from underway import Underway
from underway.web import create_app

FUZZ = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
ODD_CHARACTERS = [
    "\0", "\ud800", "\udfff", "\ufffd", "\uffff", "\u00b2", "\u0661", "\U0001f600", "\\", '"',
]  # fmt: skip
ODD_NUMBERS = [
    "1e308", "-1e308", "1e999", "NaN", "Infinity", "-Infinity", "1" + "0" * 5000, "2147483648",
    "-2147483649", "9223372036854775808", "1e-400", "-0", "0.5", "true", "null", '"7"', "[]",
]  # fmt: skip

Call = Callable[..., httpx.Response]

odd_text = st.one_of(
    st.text(max_size=12),
    st.text(st.sampled_from([*ODD_CHARACTERS, "a", "%", "{", "["]), max_size=12),
    st.sampled_from(["", "demo.echo", "\0", "a\0b", "x" * 300, "9" * 5000]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | odd_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=8,
)


def as_json(value: Any, ascii_only: bool) -> str:
    """JSON text, NaN included; non-ASCII output may hold lone surrogates (sent as is)."""
    return json.dumps(value, allow_nan=True, ensure_ascii=ascii_only)


def nested_text(depth: int) -> str:
    return '{"a":' * depth + "[]" + "}" * depth


text_fragments = st.builds(as_json, odd_text, st.booleans())
number_fragments = st.sampled_from(ODD_NUMBERS) | st.integers().map(str) | st.floats().map(repr)
args_fragments = st.one_of(
    st.builds(as_json, st.dictionaries(odd_text, json_values, max_size=4), st.booleans()),
    st.integers(0, 3000).map(nested_text),
    text_fragments,
    number_fragments,
)
field_fragments = st.fixed_dictionaries(
    {},
    optional={
        "task": text_fragments | st.just('"demo.echo"'),
        "args": args_fragments,
        "queue": text_fragments,
        "unique_key": text_fragments,
        "priority": number_fragments,
        "delay": number_fragments,
        "extra": text_fragments,
    },
)


def body_of(fields: dict[str, str]) -> bytes:
    text = "{" + ",".join(f'"{name}":{value}' for name, value in fields.items()) + "}"
    return text.encode("utf-8", "surrogatepass")


bodies = st.one_of(
    field_fragments.map(lambda fields: body_of({"task": '"demo.echo"', **fields})),
    field_fragments.map(body_of),
    st.binary(max_size=40),
)
content_types = st.sampled_from(
    ["application/json", "text/plain", None, "application/x-www-form-urlencoded", "x/y; a=\x7f"]
)
query_values = st.one_of(
    odd_text.map(lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="")),
    st.binary(max_size=12).map(lambda raw: quote(raw, safe="")),
    st.sampled_from(
        ["pending", "failed", "retried-all", "0", "-1", "1001", "1" * 5000, "%C2%B2", "%", "%zz"]
    ),
)
queries = st.lists(
    st.tuples(
        st.sampled_from(
            ["status", "task", "queue", "owner", "cursor", "limit", "q", "done", "n", "x"]
        ),
        query_values,
    ),
    max_size=5,
).map(lambda pairs: "&".join(f"{name}={value}" for name, value in pairs))


@pytest.fixture
def call(any_jobs: Underway) -> Iterator[Call]:
    """Requests to the real ASGI app, made from synchronous hypothesis examples."""
    any_jobs.dispatch("demo.echo", {"n": 1}, owner="alice")  # so that lists are not empty
    transport = httpx.ASGITransport(app=create_app(any_jobs, tokens=TOKENS), client=LOCAL_CLIENT)
    with anyio.from_thread.start_blocking_portal() as portal:
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

        def request(method: str, url: str, **options: Any) -> httpx.Response:
            return portal.call(partial(client.request, method, url, **options))

        yield request
        portal.call(client.aclose)


def assert_answered(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text[:500]
    if response.headers.get("content-type", "").startswith("application/json"):
        response.json()  # a problem document, or a document: JSON either way


@pytest.mark.parametrize("caller", [ALICE, ADMIN], ids=["owner", "admin"])
def test_no_dispatch_body_makes_a_5xx(call: Call, caller: dict[str, str]) -> None:
    @FUZZ
    @given(body=bodies, content_type=content_types)
    def dispatch(body: bytes, content_type: str | None) -> None:
        headers = {**caller, **({"content-type": content_type} if content_type else {})}
        assert_answered(call("POST", "/api/jobs", content=body, headers=headers))

    dispatch()
    listing = call("GET", "/api/jobs?limit=1000", headers=ADMIN)
    assert listing.status_code == 200  # whatever was accepted reads back


@pytest.mark.parametrize("caller", [ALICE, ADMIN], ids=["owner", "admin"])
def test_no_list_filter_makes_a_5xx(call: Call, caller: dict[str, str]) -> None:
    @FUZZ
    @given(query=queries)
    def listing(query: str) -> None:
        assert_answered(call("GET", f"/api/jobs?{query}", headers=caller))

    listing()


def test_no_dashboard_query_makes_a_5xx(call: Call) -> None:
    csrf = csrf_of(call("GET", "/signin").text)
    form = {"csrf": csrf, "token": "admin-token-0123456789", "next": "/"}
    assert call("POST", "/signin", data=form).status_code == 303

    @FUZZ
    @given(
        path=st.sampled_from(["/", "/jobs", "/failed", "/signin"]),
        notice=st.just("") | query_values.map(lambda count: f"done=retried-all&n={count}&"),
        query=queries,
    )
    def page(path: str, notice: str, query: str) -> None:
        assert_answered(call("GET", f"{path}?{notice}{query}"))

    page()
