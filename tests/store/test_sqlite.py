"""What only the SQLite backend does: the file it lives in, its pragmas, the caller's own
connection, and several store objects sharing one file."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from store_helpers import NOW, assert_every_named_query_is_used, new_job

from underway.errors import ConfigurationError, StoreError
from underway.ids import new_job_id
from underway.model import Status
from underway.store import ClaimRequest, Store, open_store
from underway.store.queries import load_migrations, load_queries
from underway.store.rows import JOB_COLUMNS
from underway.store.sqlite import SQLiteStore
from underway.store.sqlite import schema as sqlite_schema


def url_of(path: Path, query: str = "") -> str:
    return f"sqlite:///{path}{query}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "underway.db"


@pytest.fixture
def sqlite_store(db_path: Path) -> Iterator[Store]:
    store = open_store(url_of(db_path))
    store.schema_ensure()
    yield store
    store.close()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def assert_refused(path: Path, match: str) -> None:
    """Opening the file as a store fails with a StoreError, on first use of any kind, and
    leaves the folder exactly as it was."""
    before = snapshot(path.parent)
    store = open_store(url_of(path))
    try:
        with pytest.raises(StoreError, match=match) as raised:
            store.schema_ensure()
        assert str(path) in str(raised.value)
        with pytest.raises(StoreError, match=match):
            store.job_enqueue(new_job())
        with pytest.raises(StoreError, match=match):
            store.job_get(new_job_id())
    finally:
        store.close()
    assert snapshot(path.parent) == before


# -- files that are not underway's ---------------------------------------------------------


def test_a_foreign_database_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
        conn.commit()
    assert_refused(path, "not an underway database.*users")


def test_a_foreign_file_holding_only_a_view_is_refused_and_left_unchanged(
    tmp_path: Path,
) -> None:
    # Not only tables make a file someone else's: any schema object does.
    path = tmp_path / "views.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE VIEW answers AS SELECT 42 AS answer")
    assert_refused(path, "not an underway database.*view answers")


def test_an_underway_file_damaged_after_use_gives_one_clear_error(db_path: Path) -> None:
    # Pages overwritten behind underway's back (a bad disk, a stray write): every operation
    # names the file and the problem, never a bare sqlite3 error.
    store = open_store(url_of(db_path))
    job_ids = [store.job_enqueue(new_job()) for _ in range(200)]
    store.close()
    data = bytearray(db_path.read_bytes())
    page = 4096
    data[page:] = os.urandom(len(data) - page)
    db_path.write_bytes(bytes(data))
    store = open_store(url_of(db_path))
    try:
        for operation in (
            lambda: store.job_get(job_ids[0]),
            lambda: store.job_list(),
            lambda: store.job_enqueue(new_job()),
            lambda: store.stats(NOW),
        ):
            with pytest.raises(StoreError, match="not a usable SQLite database") as raised:
                operation()
            assert str(db_path) in str(raised.value)
    finally:
        store.close()


def test_a_database_of_another_application_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA application_id = 1234")
    assert_refused(path, "not an underway database")


def test_a_file_of_random_bytes_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "random.db"
    path.write_bytes(b"not a database " + os.urandom(8192))
    assert_refused(path, "not a usable SQLite database")


def test_an_underway_file_with_a_corrupt_body_is_refused_and_left_unchanged(
    tmp_path: Path, db_path: Path
) -> None:
    store = open_store(url_of(db_path))
    store.job_enqueue(new_job())
    store.close()
    header = db_path.read_bytes()[:100]
    path = tmp_path / "corrupt.db"
    path.write_bytes(header + os.urandom(4096 * 4 - 100))
    assert_refused(path, "not a usable SQLite database")


def test_a_newer_schema_is_refused_and_left_unchanged(db_path: Path) -> None:
    store = open_store(url_of(db_path))
    job_id = store.job_enqueue(new_job())
    store.close()
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(f"PRAGMA user_version = {sqlite_schema.SCHEMA_VERSION + 1}")
    assert_refused(db_path, "newer")
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT id FROM underway_jobs").fetchall() == [(job_id,)]


def test_job_rows_are_read_in_the_tables_column_order(sqlite_store: Store, db_path: Path) -> None:
    sqlite_store.schema_ensure()
    with closing(sqlite3.connect(db_path)) as conn:
        columns = tuple(row[1] for row in conn.execute("PRAGMA table_info(underway_jobs)"))
    assert columns == JOB_COLUMNS


def test_a_version_1_database_is_upgraded_in_place(db_path: Path) -> None:
    plain, keyed = new_job(), new_job(unique_key="k")
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        for statement in load_migrations("sqlite")[0].sql.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id={sqlite_schema.APPLICATION_ID}")
        conn.execute("PRAGMA user_version=1")
        for job in (plain, keyed):
            conn.execute(
                "INSERT INTO underway_jobs (id, task, queue, status, args, tries, max_attempts, "
                "backoff, created_at, available_at, unique_key) "
                "VALUES (?, 't', 'default', 'pending', '{}', 1, 1, 1.0, ?, ?, ?)",
                (job.id, NOW, NOW, job.unique_key),
            )
    store = open_store(url_of(db_path))
    try:
        assert store.job_enqueue(new_job(unique_key="k")) == keyed.id
        assert {job.id for job in store.job_list().jobs} == {plain.id, keyed.id}
    finally:
        store.close()
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_schema.SCHEMA_VERSION
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "underway_jobs_held" not in indexes
    assert "underway_jobs_unique_active" in indexes


def test_an_underway_database_is_recognised_when_opened_again(db_path: Path) -> None:
    first = open_store(url_of(db_path))
    job_id = first.job_enqueue(new_job())
    first.close()
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == sqlite_schema.APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_schema.SCHEMA_VERSION
        # the user's own tables beside underway's do not make it foreign
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        conn.commit()
    again = open_store(url_of(db_path))
    try:
        again.schema_ensure()
        record = again.job_get(job_id)
        assert record is not None
        assert record.status == Status.PENDING
    finally:
        again.close()


def test_an_empty_file_becomes_an_underway_database(db_path: Path) -> None:
    db_path.touch()
    store = open_store(url_of(db_path))
    try:
        job_id = store.job_enqueue(new_job())
        assert store.job_get(job_id) is not None
    finally:
        store.close()


# -- pragmas ---------------------------------------------------------------------------------


def test_wal_mode_is_on(sqlite_store: Store, db_path: Path) -> None:
    sqlite_store.job_enqueue(new_job())
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _synchronous(store: Store) -> int:
    assert isinstance(store, SQLiteStore)
    return int(store._conn.execute("PRAGMA synchronous").fetchone()[0])


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", 1), ("?synchronous=full", 2), ("?synchronous=FULL", 2), ("?synchronous=extra", 3)],
)
def test_synchronous_mode(db_path: Path, query: str, expected: int) -> None:
    store = open_store(url_of(db_path, query))
    try:
        assert _synchronous(store) == expected
    finally:
        store.close()


@pytest.mark.parametrize("value", ["fast", "2;DROP TABLE underway_jobs"])
def test_a_bad_synchronous_value_is_a_configuration_error(db_path: Path, value: str) -> None:
    url = url_of(db_path, f"?synchronous={value}")
    with pytest.raises(ConfigurationError, match="synchronous") as raised:
        open_store(url)
    assert url in str(raised.value)
    assert not db_path.exists()


def test_a_bad_timeout_is_a_configuration_error(db_path: Path) -> None:
    url = url_of(db_path, "?timeout=soon")
    with pytest.raises(ConfigurationError, match="timeout") as raised:
        open_store(url)
    assert url in str(raised.value)


# -- URLs that cannot work -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite:///", "sqlite:///file::memory:"])
def test_an_in_memory_database_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="memory") as raised:
        open_store(url)
    assert repr(url) in str(raised.value)


def test_a_missing_folder_is_a_configuration_error(tmp_path: Path) -> None:
    url = url_of(tmp_path / "missing" / "underway.db")
    with pytest.raises(ConfigurationError, match="does not exist") as raised:
        open_store(url)
    assert repr(url) in str(raised.value)
    assert not (tmp_path / "missing").exists()


def test_a_folder_that_is_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("x")
    url = url_of(tmp_path / "plain.txt" / "underway.db")
    with pytest.raises(ConfigurationError) as raised:
        open_store(url)
    assert repr(url) in str(raised.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere; permissions stop nobody")
@pytest.mark.parametrize("target", ["folder", "file"])
def test_an_unwritable_path_is_a_configuration_error(tmp_path: Path, target: str) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    path = folder / "underway.db"
    if target == "file":
        store = open_store(url_of(path))
        store.schema_ensure()
        store.close()
        path.chmod(0o444)
    else:
        folder.chmod(0o555)
    try:
        with pytest.raises(ConfigurationError, match="not writable") as raised:
            open_store(url_of(path))
        assert repr(url_of(path)) in str(raised.value)
    finally:
        folder.chmod(0o755)
        if path.exists():
            path.chmod(0o644)


# -- the caller's own connection -------------------------------------------------------------


@pytest.fixture
def caller(sqlite_store: Store, db_path: Path) -> Iterator[sqlite3.Connection]:
    """The application's own connection, with a table of its own beside underway's."""
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    conn.commit()
    yield conn
    conn.close()


def _orders(db_path: Path) -> list[str]:
    with closing(sqlite3.connect(db_path)) as conn:
        return [row[0] for row in conn.execute("SELECT note FROM orders ORDER BY id")]


def test_dispatch_in_the_callers_transaction_exists_once_committed(
    sqlite_store: Store, caller: sqlite3.Connection, db_path: Path
) -> None:
    caller.execute("INSERT INTO orders (note) VALUES ('paid')")
    job = new_job()
    assert sqlite_store.job_enqueue(job, connection=caller) == job.id
    assert caller.in_transaction
    assert sqlite_store.job_get(job.id) is None  # not before the caller commits
    caller.commit()
    record = sqlite_store.job_get(job.id)
    assert record is not None
    assert (record.status, record.args) == (Status.PENDING, {})
    assert _orders(db_path) == ["paid"]


def test_dispatch_in_the_callers_transaction_vanishes_on_rollback(
    sqlite_store: Store, caller: sqlite3.Connection, db_path: Path
) -> None:
    caller.execute("INSERT INTO orders (note) VALUES ('abandoned')")
    job = new_job()
    sqlite_store.job_enqueue(job, connection=caller)
    caller.rollback()
    assert sqlite_store.job_get(job.id) is None
    assert sqlite_store.job_list().jobs == []
    assert _orders(db_path) == []


def test_dispatch_in_the_callers_transaction_keeps_the_unique_key(
    sqlite_store: Store, caller: sqlite3.Connection
) -> None:
    first = sqlite_store.job_enqueue(new_job(unique_key="k"))
    assert sqlite_store.job_enqueue(new_job(unique_key="k"), connection=caller) == first
    caller.commit()
    assert [job.id for job in sqlite_store.job_list().jobs] == [first]


def test_dispatch_in_the_callers_transaction_with_a_store_opened_meanwhile(
    sqlite_store: Store, caller: sqlite3.Connection, db_path: Path
) -> None:
    """A process's first dispatch may come inside a transaction that has already written:
    the store's first use must not wait for the caller's own lock."""
    caller.execute("INSERT INTO orders (note) VALUES ('first request')")
    fresh = open_store(url_of(db_path, "?timeout=1"))
    try:
        job = new_job()
        assert fresh.job_enqueue(job, connection=caller) == job.id
        caller.commit()
        assert fresh.job_get(job.id) is not None
    finally:
        fresh.close()


def test_dispatch_with_a_connection_of_another_kind_is_a_type_error(sqlite_store: Store) -> None:
    with pytest.raises(TypeError, match=r"sqlite3\.Connection"):
        sqlite_store.job_enqueue(new_job(), connection=object())
    assert sqlite_store.job_list().jobs == []


# -- queries ---------------------------------------------------------------------------------


def test_every_named_query_is_used() -> None:
    assert_every_named_query_is_used("sqlite")


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("job_claim_any", "underway_jobs_ready"),
        ("job_claim_queue", "underway_jobs_ready_queue"),
        ("jobs_prune", "underway_jobs_finished"),
        ("lease_rescue", "underway_jobs_leases"),
        ("stats_finished_since", "underway_jobs_finished"),
    ],
)
def test_hot_queries_use_their_index(
    sqlite_store: Store, db_path: Path, query: str, index: str
) -> None:
    """The claim path and maintenance stay fast however much finished history there is."""
    params = {
        "worker_id": "w",
        "lease_expires_at": NOW,
        "now": NOW,
        "limit": 1,
        "min_tries": 1,
        "queue": "q",
        "before": NOW,
        "since": NOW,
    }
    with closing(sqlite3.connect(db_path)) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {load_queries('sqlite')[query]}", params)
        details = [row[3] for row in plan]
    assert any(index in detail for detail in details), details


# -- several store objects on one file -------------------------------------------------------


def _run_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            target(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def test_concurrent_claims_never_claim_a_job_twice(sqlite_store: Store, db_path: Path) -> None:
    threads, share = 8, 60
    # Each thread stops after about `share` jobs, so every job is claimed only if nearly all
    # threads took part: SQLite's lock is not fair, and one thread could otherwise take all.
    jobs = [new_job(priority=n % 3) for n in range(400)]
    for job in jobs:
        sqlite_store.job_enqueue(job)
    barrier = threading.Barrier(threads)
    claimed: dict[int, list[str]] = {n: [] for n in range(threads)}

    def claimer(n: int) -> None:
        store = open_store(url_of(db_path))
        try:
            barrier.wait()
            while len(claimed[n]) < share and (
                batch := store.job_claim(f"w{n}", ClaimRequest([], 7, 30, NOW))
            ):
                claimed[n].extend(record.id for record in batch)
        finally:
            store.close()

    assert _run_threads(threads, claimer) == []
    every = [job_id for ids in claimed.values() for job_id in ids]
    assert len(every) == len(set(every))
    assert set(every) == {job.id for job in jobs}
    holders = {job.id: job.worker_id for job in sqlite_store.job_list(limit=1000).jobs}
    for n, ids in claimed.items():
        assert {holders[job_id] for job_id in ids} <= {f"w{n}"}
    page = sqlite_store.job_list(limit=1000)
    assert {(job.status, job.attempts) for job in page.jobs} == {(Status.PROCESSING, 1)}


def _dispatch_at_once(db_path: Path, threads: int) -> list[str]:
    """Open one store per thread on db_path and enqueue one job from each, all at once."""
    barrier = threading.Barrier(threads)
    ids: list[str] = []

    def dispatcher(_n: int) -> None:
        store = open_store(url_of(db_path))
        try:
            barrier.wait()
            ids.append(store.job_enqueue(new_job()))
        finally:
            store.close()

    assert _run_threads(threads, dispatcher) == []
    return ids


def test_concurrent_first_use_of_a_new_file(tmp_path: Path) -> None:
    """Several processes starting at once on a file that does not exist yet all get to use it:
    one creates the schema, the others wait for it and do not mistake it for a foreign file.
    A race, so it is run on many new files."""
    for round_ in range(30):
        db_path = tmp_path / f"new-{round_}.db"
        ids = _dispatch_at_once(db_path, threads=6)
        store = open_store(url_of(db_path))
        try:
            assert sorted(job.id for job in store.job_list().jobs) == sorted(ids)
            assert len(ids) == 6
        finally:
            store.close()
