"""Dispatch refuses what a backend could not store or read back, the same on every backend:
arguments nested too deep, NUL characters in names, delays and priorities out of range."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from underway import JobNotFound, Underway
from underway.codec import MAX_DEPTH, too_deep
from underway.validation import MAX_DELAY_SECONDS, MAX_PRIORITY, MIN_PRIORITY

WEB_TESTS = Path(__file__).parent / "web"


def nested(depth: int) -> Any:
    """A value with `depth` levels of arrays and objects."""
    value: Any = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.fixture
def app(database_url: str) -> Iterator[Underway]:
    app = Underway(database_url)

    @app.task("echo")
    def echo(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    yield app
    app.store.close()


def stored(app: Underway) -> list[dict[str, Any]]:
    return app.list(limit=1000)[0]


# -- arguments nested too deep --------------------------------------------------------------------


def test_arguments_may_nest_up_to_the_limit(app: Underway) -> None:
    deepest = {"a": nested(MAX_DEPTH - 1)}  # the arguments object is the first level
    job_id = app.dispatch("echo", deepest)
    assert app.get(job_id)["args"] == deepest  # type: ignore[index]
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_DEPTH} levels"):
        app.dispatch("echo", {"a": nested(MAX_DEPTH)})
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_DEPTH} levels"):
        app.dispatch_many("echo", [{"n": 1}, {"a": nested(5000)}])
    assert [d["job_id"] for d in stored(app)] == [job_id]


def test_wide_or_bracketed_arguments_are_not_deep(app: Underway) -> None:
    wide = {"rows": [{"id": i, "tags": [[i]]} for i in range(2000)]}
    brackets = {"text": "[{" * 5000, "quoted": '"[' * 300, "escaped": "\\[" * 300}
    assert app.dispatch_many("echo", [wide, brackets])


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


TRICKY = ["\\", '\\"[', '"{', "]]]]", "\\\\]", '\\\\"', "}" * 70, "[" * 70]
json_values = st.recursive(
    st.none() | st.integers() | st.sampled_from(TRICKY) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(TRICKY) | st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=30,
)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    value=json_values,
    wrapping=st.integers(0, 70),
    limit=st.sampled_from([1, 2, 3, 5, 64]),
    ascii_only=st.booleans(),
)
def test_depth_is_measured_on_the_json_text(
    value: Any, wrapping: int, limit: int, ascii_only: bool
) -> None:
    for level in range(wrapping):
        value = [value, TRICKY[level % len(TRICKY)]] if level % 2 else {TRICKY[level % 8]: value}
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert too_deep(text, limit) == (depth(value) > limit), (limit, text[:200])


# -- names no backend can store -------------------------------------------------------------------


@pytest.mark.parametrize("field", ["queue", "owner", "unique_key"])
@pytest.mark.parametrize("value", ["a\0b", "\0", "lone \ud800 surrogate"])
def test_names_that_cannot_be_stored_are_refused(app: Underway, field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        app.dispatch("echo", {}, **{field: value})
    if field != "unique_key":
        with pytest.raises(ValueError, match=field):
            app.dispatch_many("echo", [{}], **{field: value})
    assert stored(app) == []


def test_a_task_name_that_cannot_be_stored_is_refused(app: Underway) -> None:
    @app.task("bad\0name")
    def bad() -> None:
        pass

    with pytest.raises(ValueError, match="task"):
        bad.dispatch()
    assert stored(app) == []


# -- delays and priorities out of range -----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"delay": math.nan}, ValueError),
        ({"delay": math.inf}, ValueError),
        ({"delay": -math.inf}, ValueError),
        ({"delay": 1e308}, ValueError),
        ({"delay": 1e12}, ValueError),
        ({"delay": 10**400}, ValueError),
        ({"delay": -0.001}, ValueError),
        ({"delay": MAX_DELAY_SECONDS + 1}, ValueError),
        ({"delay": "5"}, TypeError),
        ({"priority": 2**70}, ValueError),
        ({"priority": 2**63}, ValueError),
        ({"priority": MAX_PRIORITY + 1}, ValueError),
        ({"priority": MIN_PRIORITY - 1}, ValueError),
        ({"priority": 1.5}, TypeError),
        ({"priority": "7"}, TypeError),
    ],
)
def test_delays_and_priorities_out_of_range_are_refused(
    app: Underway, options: dict[str, Any], error: type[Exception]
) -> None:
    name = next(iter(options))
    with pytest.raises(error, match=name):
        app.dispatch("echo", {}, **options)
    with pytest.raises(error, match=name):
        app.dispatch_many("echo", [{}, {}], **options)
    assert stored(app) == []
    assert app.list()[0] == []  # and the list still reads


def test_bounds_are_stored_and_read_back(app: Underway) -> None:
    high = app.dispatch("echo", {}, priority=MAX_PRIORITY, delay=MAX_DELAY_SECONDS)
    low = app.dispatch("echo", {}, priority=MIN_PRIORITY, delay=0)
    documents = {d["job_id"]: d for d in stored(app)}
    assert documents[high]["priority"] == MAX_PRIORITY
    assert documents[low]["priority"] == MIN_PRIORITY
    assert documents[high]["available_at"] > documents[high]["created_at"]


@pytest.mark.parametrize("decorated", [{"priority": 2**40}, {"queue": "q\0"}])
def test_a_tasks_own_options_are_checked_at_dispatch(
    app: Underway, decorated: dict[str, Any]
) -> None:
    @app.task("odd", **decorated)
    def odd() -> None:
        pass

    with pytest.raises(ValueError, match=next(iter(decorated))):
        odd.dispatch()
    assert stored(app) == []


# -- the CLI says so in one line ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--args", json.dumps({"a": nested(MAX_DEPTH)})], "nested deeper than 64"),
        (["--delay", "1e12"], "delay"),
        (["--priority", str(2**40)], "priority"),
    ],
)
def test_the_cli_refuses_in_one_line(sqlite_url: str, args: list[str], words: str) -> None:
    command = [sys.executable, "-m", "underway", "dispatch", "demo.echo", "--app", "web_jobs:app"]
    # (A NUL cannot reach the CLI: no operating system passes one inside an argument.)
    result = subprocess.run(
        [*command, "--database-url", sqlite_url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=WEB_TESTS,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(WEB_TESTS)},
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert words in lines[0]


@pytest.mark.parametrize("job_id", ["a\0b", "lone \ud800"])
def test_reading_an_id_no_backend_can_hold_finds_nothing(app: Underway, job_id: str) -> None:
    # PostgreSQL refuses even to look such a value up: the answer is "no such job" everywhere.
    assert app.get(job_id) is None
    assert app.delete(job_id) is False
    with pytest.raises(JobNotFound):
        app.cancel(job_id)
    with pytest.raises(JobNotFound):
        app.retry(job_id)


@pytest.mark.parametrize("field", ["task", "queue", "owner", "cursor"])
def test_list_filters_no_backend_can_hold_are_refused(app: Underway, field: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must not contain NUL"):
        app.list(**{field: "x\0"})
