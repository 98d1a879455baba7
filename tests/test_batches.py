"""The Python API of batches: bad input refused before anything is stored, the batch document,
eager mode running children and callbacks, and the operator's actions (tests/worker has them
with real workers)."""

from __future__ import annotations

from typing import Any

import pytest

from underway import InvalidTransition, Job, JobNotFound, Underway, UnknownTask
from underway.errors import BatchNotFound

DOCUMENT_KEYS = {
    "batch_id", "name", "status", "owner", "progress", "jobs", "usage", "results", "errors",
    "created_at", "completed_at",
}  # fmt: skip


def make_app(url: str, eager: bool, calls: list[tuple[str, Any]]) -> Underway:
    app = Underway(url, eager=eager)

    @app.task("work", tries=1)
    def work(job: Job, items: list[Any]) -> int:
        for item in items:
            if item == "crash":
                raise RuntimeError("crashed on purpose")
            job.add_result({"item": item, "success": item != "bad"})
            job.add_usage(tokens=1)
            job.advance(current=str(item))
        return len(items)

    for kind in ("done", "success", "failure"):

        @app.task(kind)
        def callback(batch_id: str, kind: str = kind) -> None:
            calls.append((kind, batch_id))

    return app


@pytest.fixture
def calls() -> list[tuple[str, Any]]:
    return []


def test_bad_input_is_refused_and_nothing_is_stored(
    database_url: str, calls: list[tuple[str, Any]]
) -> None:
    app = make_app(database_url, False, calls)
    refused: list[tuple[type[Exception], str, dict[str, Any]]] = [
        (ValueError, "must not be empty", {"items": []}),
        (TypeError, "must be a list", {"items": "abc"}),
        (TypeError, "must be a list", {"items": {"a": 1}}),
        (TypeError, r"item 2 of the batch .* not JSON-serialisable \(set", {"items": [1, 2, {3}]}),
        (ValueError, "chunk_size must be at least 1", {"items": [1], "chunk_size": 0}),
        (TypeError, "chunk_size must be an integer", {"items": [1], "chunk_size": 1.5}),
        (UnknownTask, "nope", {"items": [1], "on_complete": "nope"}),
        (UnknownTask, "nope", {"items": [1], "on_failure": "nope"}),
        (ValueError, "name must not contain NUL", {"items": [1], "name": "a\0"}),
    ]
    for error, message, arguments in refused:
        with pytest.raises(error, match=message):
            app.batch("work", **arguments)
    with pytest.raises(UnknownTask):
        app.batch("missing", [1])
    assert app.list() == ([], None)


def test_the_batch_document_and_its_children(
    database_url: str, calls: list[tuple[str, Any]]
) -> None:
    app = make_app(database_url, False, calls)
    batch_id = app.batch("work", list(range(5)), chunk_size=2, owner="ada", name="five")
    document = app.get_batch(batch_id)
    assert document is not None and set(document) == DOCUMENT_KEYS
    assert document["progress"] == {
        "total": 5, "processed": 0, "succeeded": 0, "failed": 0, "percent": 0.0, "current": None,
    }  # fmt: skip
    assert document["jobs"] == {
        "pending": 3, "processing": 0, "completed": 0, "failed": 0, "cancelled": 0,
    }  # fmt: skip
    assert (document["status"], document["owner"], document["name"]) == ("pending", "ada", "five")
    assert (document["results"], document["errors"], document["completed_at"]) == ([], [], None)
    children, _ = app.list(owner="ada")
    assert sorted(child["args"]["items"] for child in children) == [[0, 1], [2, 3], [4]]
    assert {child["batch_id"] for child in children} == {batch_id}
    assert app.get(app.dispatch("work", {"items": []}))["batch_id"] is None  # type: ignore[index]
    assert app.get_batch("no-such-batch") is None
    assert app.get_batch("a\0") is None
    with pytest.raises(ValueError, match="limit"):
        app.get_batch(batch_id, limit=0)
    with pytest.raises(InvalidTransition, match="no failed or cancelled jobs"):
        app.retry_batch(batch_id)


def test_eager_batches_run_children_then_each_callback_once(
    database_url: str, calls: list[tuple[str, Any]]
) -> None:
    app = make_app(database_url, True, calls)
    callbacks = {"on_complete": "done", "on_success": "success", "on_failure": "failure"}
    good = app.batch("work", ["a", "b", "c"], chunk_size=2, **callbacks)
    document = app.get_batch(good)
    assert document is not None
    assert (document["status"], document["progress"]["percent"]) == ("completed", 100.0)
    assert document["usage"] == {"tokens": 3}
    assert [r["item"] for r in document["results"]] == ["a", "b", "c"]
    assert sorted(calls) == [("done", good), ("success", good)]

    calls.clear()
    mixed = app.batch("work", ["a", "bad", "crash", "d"], **callbacks)
    document = app.get_batch(mixed, offset=1, limit=1)
    assert document is not None
    assert document["status"] == "failed"  # a child failed: allow_failures lets the rest run
    assert document["progress"] | {"current": None} == {
        "total": 4, "processed": 4, "succeeded": 2, "failed": 2, "percent": 100.0,
        "current": None,
    }  # fmt: skip
    assert document["results"] == [{"item": "bad", "success": False}]
    [error] = document["errors"]
    assert (error["items"], "crashed on purpose" in error["error"]) == (["crash"], True)
    assert calls == [("done", mixed)]

    calls.clear()
    with pytest.raises(InvalidTransition, match="it is failed; items can be added only while"):
        app.add_to_batch(mixed, ["e"])
    retried = app.retry_batch(mixed)  # the crash item fails again; the others are kept
    assert (retried["jobs"]["completed"], retried["jobs"]["failed"]) == (3, 1)
    assert calls == [("done", mixed)]


def test_eager_allow_failures_false_cancels_the_rest_and_fails_once(
    database_url: str, calls: list[tuple[str, Any]]
) -> None:
    app = make_app(database_url, True, calls)
    batch_id = app.batch(
        "work",
        ["a", "crash", "c", "d"],
        allow_failures=False,
        on_failure="failure",
        on_complete="done",
        on_success="success",
    )
    document = app.get_batch(batch_id)
    assert document is not None
    assert document["jobs"] == {
        "pending": 0, "processing": 0, "completed": 1, "failed": 1, "cancelled": 2,
    }  # fmt: skip
    assert document["status"] == "failed"
    assert sorted(calls) == [("done", batch_id), ("failure", batch_id)]


def test_cancel_and_add_without_eager_mode(database_url: str, calls: list[tuple[str, Any]]) -> None:
    app = make_app(database_url, False, calls)
    batch_id = app.batch("work", [1, 2], on_complete="done")
    grown = app.add_to_batch(batch_id, [3, 4, 5])
    assert (grown["progress"]["total"], grown["jobs"]["pending"]) == (5, 5)
    cancelled = app.cancel_batch(batch_id)
    assert (cancelled["status"], cancelled["jobs"]["cancelled"]) == ("cancelled", 5)
    with pytest.raises(InvalidTransition, match="cancelled"):
        app.cancel_batch(batch_id)
    with pytest.raises(InvalidTransition, match="cancelled"):
        app.add_to_batch(batch_id, [6])
    for action in (app.cancel_batch, app.retry_batch):
        with pytest.raises(BatchNotFound):
            action("no-such-batch")
        with pytest.raises(JobNotFound):  # what answers a missing job answers this too
            action("a\0")
    assert calls == []  # no worker, no eager mode: the callback waits as a pending job
