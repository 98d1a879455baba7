"""The Python API: construction, tasks, dispatch, reading, eager mode, direct calls."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from underway import (
    ConfigurationError,
    InvalidTransition,
    Job,
    JobNotFound,
    StoreUnavailable,
    Underway,
    UnknownTask,
)
from underway.ids import is_job_id, new_job_id

STATUS_KEYS = {
    "job_id", "task", "queue", "status", "priority", "owner", "args", "progress", "results",
    "errors", "usage", "result", "error", "attempts", "max_attempts", "created_at",
    "available_at", "started_at", "completed_at",
}  # fmt: skip


@pytest.fixture
def app(sqlite_url: str) -> Underway:
    return Underway(sqlite_url)


def test_default_url_comes_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNDERWAY_DATABASE_URL", raising=False)
    assert Underway().database_url == "sqlite:///underway.db"
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("UNDERWAY_DATABASE_URL", url)
    assert Underway().database_url == url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://localhost/db", "unknown scheme 'mysql'"),
        ("underway.db", "has no scheme"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:////no/such/folder/x.db", "does not exist"),
        ("sqlite:///x.db?synchronous=sometimes", "synchronous must be"),
    ],
)
def test_bad_url_is_a_clear_error_naming_it(url: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Underway(url)
    assert url in str(caught.value)
    assert fragment in str(caught.value)


def test_unwritable_folder_is_refused() -> None:
    # /proc/1 exists and refuses new files even to root.
    with pytest.raises(ConfigurationError, match="/proc/1 is not writable"):
        Underway("sqlite:////proc/1/underway.db")


def test_task_names_and_options(app: Underway) -> None:
    @app.task
    def plain() -> None: ...

    @app.task("reports.generate", queue="reports", timeout=180, tries=3, backoff=2, priority=5)
    async def named(job: Job) -> None: ...

    assert plain.name == f"{__name__}.test_task_names_and_options.<locals>.plain"
    assert app.tasks["reports.generate"] is named
    assert named.is_async and named.takes_job and not plain.takes_job
    assert named.options.queue == "reports" and named.options.tries == 3
    with pytest.raises(ValueError, match="tries"):
        app.task(tries=0)
    with pytest.raises(ValueError, match="timeout"):
        app.task(timeout=-1)


def test_dispatch_writes_a_pending_status_document(app: Underway) -> None:
    @app.task("reports.generate", queue="reports", tries=3, priority=2)
    def generate(entry_ids: list[str]) -> None: ...

    job_id = generate.dispatch(entry_ids=["a", "b"])
    document = app.get(job_id)
    assert document is not None
    assert set(document) >= STATUS_KEYS
    assert document["job_id"] == job_id
    assert document["task"] == "reports.generate"
    assert document["queue"] == "reports"
    assert document["status"] == "pending"
    assert document["args"] == {"entry_ids": ["a", "b"]}
    assert document["max_attempts"] == 3 and document["attempts"] == 0
    assert document["priority"] == 2
    assert document["progress"] == {
        "total": None, "processed": 0, "percent": None, "current": None, "rate_per_s": None,
        "eta_s": None,
    }  # fmt: skip
    assert document["output_length"] == 0
    assert document["created_at"].endswith("Z")
    assert document["warning"] == "no worker is running"


def test_dispatch_options_override_the_task(app: Underway) -> None:
    @app.task(queue="a")
    def work() -> None: ...

    job_id = app.dispatch(work, {}, queue="b", priority=9, delay=60, owner="user-42")
    document = app.get(job_id)
    assert document is not None
    assert (document["queue"], document["priority"], document["owner"]) == ("b", 9, "user-42")
    created = datetime.datetime.fromisoformat(document["created_at"])
    available = datetime.datetime.fromisoformat(document["available_at"])
    assert 59.9 <= (available - created).total_seconds() <= 60.1


def test_arguments_must_be_json_and_the_error_names_the_argument(app: Underway) -> None:
    @app.task
    def work(**kwargs: object) -> None: ...

    with pytest.raises(TypeError, match=r"argument .when.*not JSON"):
        work.dispatch(ok=1, when=datetime.date.today())
    with pytest.raises(TypeError, match="argument 'ratio'"):
        work.dispatch(ratio=float("nan"))
    assert app.list()[0] == []


def test_dispatch_many_queues_each_in_order(app: Underway) -> None:
    @app.task(queue="bulk")
    def work(n: int) -> None: ...

    ids = app.dispatch_many(work, [{"n": n} for n in range(100)], priority=3, owner="o")
    assert len(set(ids)) == 100
    documents, _ = app.list(limit=100)
    assert [d["job_id"] for d in documents] == ids[::-1]
    assert {(d["queue"], d["priority"], d["owner"]) for d in documents} == {("bulk", 3, "o")}
    assert documents[-1]["args"] == {"n": 0}
    with pytest.raises(TypeError, match="argument 'n'"):
        app.dispatch_many(work, [{"n": 1}, {"n": object()}])
    assert len(app.list(limit=1000)[0]) == 100


def test_dispatch_many_runs_eagerly(sqlite_url: str) -> None:
    app = Underway(sqlite_url, eager=True)

    @app.task
    def square(n: int) -> int:
        return n * n

    ids = app.dispatch_many(square, [{"n": n} for n in range(4)])
    assert [app.wait(i)["result"] for i in ids] == [0, 1, 4, 9]


def test_unknown_task_name_is_refused(app: Underway) -> None:
    with pytest.raises(UnknownTask, match=r"no\.such"):
        app.dispatch("no.such")


def test_dispatch_to_a_database_locked_by_another_writer_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    app = Underway(f"sqlite:///{path}?timeout=0.05")

    @app.task
    def work() -> None: ...

    work.dispatch()  # the schema exists before the lock is taken
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for dispatch in (
            lambda: app.dispatch(work),
            lambda: app.dispatch(work, unique_key="k"),
            lambda: app.dispatch_many(work, [{}, {}]),
        ):
            with pytest.raises(StoreUnavailable, match="stayed locked by another writer"):
                dispatch()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert app.dispatch(work)


def test_unique_key_returns_the_active_job(app: Underway) -> None:
    @app.task
    def fix_all(issue_ids: list[int]) -> None: ...

    first = app.dispatch(fix_all, {"issue_ids": [1]}, unique_key="fix-all:user-1")
    again = app.dispatch(fix_all, {"issue_ids": [1]}, unique_key="fix-all:user-1")
    other = app.dispatch(fix_all, {"issue_ids": [1]}, unique_key="fix-all:user-2")
    assert first == again != other
    app.cancel(first)
    assert app.dispatch(fix_all, {"issue_ids": [1]}, unique_key="fix-all:user-1") != first


def test_job_ids_are_unique_time_ordered_and_unguessable() -> None:
    ids = [new_job_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(is_job_id(i) for i in ids)
    # Consecutive ids differ in their random part by more than a counter step.
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    tails = [
        int("".join("0123456789abcdefghijklmnopqrstuv"[alphabet.index(c)] for c in i[10:]), 32)
        for i in ids[:50]
    ]
    assert all(b - a > 1 for a, b in itertools.pairwise(tails) if b > a)


def test_job_ids_carry_the_time_they_were_made() -> None:
    before = time.time_ns() // 1_000_000
    job_id = new_job_id()
    after = time.time_ns() // 1_000_000
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    value = 0
    for c in job_id:
        value = value * 32 + alphabet.index(c)
    assert before <= value >> 80 <= after


def test_job_ids_are_unique_and_ordered_across_threads() -> None:
    def make() -> list[str]:
        return [new_job_id() for _ in range(5000)]

    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: make(), range(4)))
    assert all(batch == sorted(batch) for batch in batches)
    assert len({i for batch in batches for i in batch}) == 4 * 5000


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_makes_other_ids_within_the_same_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen = time.time_ns()
    monkeypatch.setattr("underway.ids.time", SimpleNamespace(time_ns=lambda: frozen))
    new_job_id()  # the parent has drawn randomness before the fork
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, "".join(new_job_id() for _ in range(100)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    parent = [new_job_id() for _ in range(100)]
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    child = [text[i : i + 26] for i in range(0, len(text), 26)]
    assert len(child) == 100
    assert not set(parent) & set(child)


def test_cancel_and_retry_transitions(app: Underway) -> None:
    @app.task
    def work() -> None: ...

    job_id = work.dispatch()
    assert app.cancel(job_id)["status"] == "cancelled"
    with pytest.raises(InvalidTransition, match="cancelled, not pending or processing"):
        app.cancel(job_id)
    assert app.retry(job_id)["status"] == "pending"
    with pytest.raises(InvalidTransition, match="pending, not failed or cancelled"):
        app.retry(job_id)
    with pytest.raises(JobNotFound):
        app.cancel("0" * 26)
    assert app.get("0" * 26) is None


def test_list_filters_and_pages(app: Underway) -> None:
    @app.task(queue="q1")
    def one() -> None: ...

    @app.task(queue="q2")
    def two() -> None: ...

    ids = [one.dispatch() for _ in range(5)] + [two.dispatch() for _ in range(3)]
    page, cursor = app.list(limit=3)
    assert [d["job_id"] for d in page] == ids[::-1][:3]
    seen = [d["job_id"] for d in page]
    while cursor:
        page, cursor = app.list(limit=3, cursor=cursor)
        seen += [d["job_id"] for d in page]
    assert seen == ids[::-1]
    assert {d["job_id"] for d in app.list(queue="q2")[0]} == set(ids[5:])
    assert len(app.list(task=one.name)[0]) == 5
    assert app.list(status="completed")[0] == []
    with pytest.raises(ValueError):
        app.list(status="finished")


def test_wait_times_out_on_a_job_nobody_runs(app: Underway) -> None:
    @app.task
    def work() -> None: ...

    with pytest.raises(TimeoutError, match="still pending"):
        app.wait(work.dispatch(), timeout=0.05)
    with pytest.raises(JobNotFound):
        app.wait("0" * 26, timeout=0.05)


# -- eager mode -----------------------------------------------------------------------------------


def test_eager_mode_runs_at_dispatch_and_writes_the_document(sqlite_url: str) -> None:
    app = Underway(sqlite_url, eager=True)

    @app.task(tries=2)
    def fix(job: Job, items: list[str]) -> dict[str, int]:
        job.progress(total=len(items))
        for number, item in enumerate(items):
            job.advance(current=item)
            job.add_result({"item": number, "success": item != "bad", "message": item})
            job.add_usage(tokens=10, ai_cost=0.5)
            job.save_checkpoint(number)
        job.add_error("one file was read-only")
        return {"fixed": len(items)}

    document = app.get(fix.dispatch(items=["a.py", "bad", "c.py"]))
    assert document is not None
    assert document["status"] == "completed"
    assert document["result"] == {"fixed": 3}
    progress = document["progress"]
    assert {key: progress[key] for key in ("total", "processed", "percent", "current")} == {
        "total": 3, "processed": 3, "percent": 100.0, "current": "c.py"
    }  # fmt: skip
    assert progress["eta_s"] is None  # finished: nothing left to estimate
    assert [r["success"] for r in document["results"]] == [True, False, True]
    assert document["usage"] == {"tokens": 30, "ai_cost": 1.5}
    assert document["errors"] == ["one file was read-only"]
    assert "warning" not in document


def test_eager_mode_from_environment_retries_and_keeps_each_error(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNDERWAY_EAGER", "1")
    app = Underway(sqlite_url)
    assert app.eager

    @app.task(tries=3)
    def flaky(job: Job) -> int:
        if job.attempt < 3:
            raise RuntimeError(f"boom {job.attempt}")
        return job.attempt

    document = app.get(flaky.dispatch())
    assert document is not None
    assert (document["status"], document["result"], document["attempts"]) == ("completed", 3, 3)
    assert document["errors"] == [
        "attempt 1: RuntimeError: boom 1",
        "attempt 2: RuntimeError: boom 2",
    ]


def test_eager_failure_keeps_error_and_traceback(sqlite_url: str) -> None:
    app = Underway(sqlite_url, eager=True)

    @app.task
    def broken() -> None:
        raise ValueError("bad input")

    job_id = broken.dispatch()
    document = app.get(job_id)
    assert document is not None
    assert (document["status"], document["error"]) == ("failed", "ValueError: bad input")
    record = app.store.job_get(job_id)
    assert record is not None and record.traceback is not None
    assert 'raise ValueError("bad input")' in record.traceback


def test_eager_async_task_inside_a_running_loop(sqlite_url: str) -> None:
    app = Underway(sqlite_url, eager=True)

    @app.task
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def web_handler() -> str:
        return double.dispatch(x=21)

    job_id = asyncio.run(web_handler())
    document = app.get(job_id)
    assert document is not None and document["result"] == 42


def test_eager_result_that_is_not_json_fails_clearly(sqlite_url: str) -> None:
    app = Underway(sqlite_url, eager=True)

    @app.task(tries=3)
    def returns_a_set() -> set[int]:
        return {1}

    document = app.get(returns_a_set.dispatch())
    assert document is not None
    assert document["status"] == "failed" and document["attempts"] == 1
    assert "return value is not JSON" in document["error"]


# -- direct calls and the detached Job ------------------------------------------------------------


def test_calling_a_task_runs_it_in_process(app: Underway) -> None:
    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    @app.task
    def count(job: Job, n: int) -> int:
        job.progress(total=n)
        for _ in range(n):
            job.advance()
        job.add_result({"item": 1, "success": True})
        return job.processed

    assert add(2, 3) == 5
    assert count(n=4) == 4
    job = Job()
    assert count(job, 7) == 7
    assert (job.total, job.processed, job.results) == (7, 7, [{"item": 1, "success": True}])
    assert app.list()[0] == []


def test_job_context_validates_its_inputs() -> None:
    job = Job()
    with pytest.raises(TypeError, match="takes a dict"):
        job.add_result("fixed")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        job.add_result({"when": datetime.date.today()})
    with pytest.raises(TypeError, match="takes a number"):
        job.add_usage(tokens="many")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        job.save_checkpoint({1, 2})
    job.save_checkpoint({"done": [1, 2]})
    assert job.checkpoint == {"done": [1, 2]}
    assert not job.cancelled


def test_transactional_dispatch_with_the_callers_sqlite_connection(app: Underway) -> None:
    @app.task
    def work() -> None: ...

    app.store.schema_ensure()
    path = app.database_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    rolled_back = app.dispatch(work, connection=conn)
    conn.execute("ROLLBACK")
    conn.execute("BEGIN")
    committed = app.dispatch(work, connection=conn)
    conn.execute("COMMIT")
    conn.close()
    assert app.get(rolled_back) is None
    assert app.get(committed) is not None
