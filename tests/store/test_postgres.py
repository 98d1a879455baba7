"""PostgreSQL-only behaviour: transactional dispatch, concurrent migration, LISTEN/NOTIFY,
outages, versioning, and the claim path's cost as history grows. Real PostgreSQL, a fresh schema
per test (the postgres_url fixture), no mocks."""

from __future__ import annotations

import secrets
import select
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from store_helpers import NOW, assert_every_named_query_is_used, new_job

psycopg = pytest.importorskip("psycopg")

from underway import Underway  # noqa: E402
from underway.errors import ConfigurationError, StoreError, StoreUnavailable  # noqa: E402
from underway.model import Status  # noqa: E402
from underway.store import ClaimRequest, Lease, Outcome, Store, open_store  # noqa: E402
from underway.store.postgres import PostgresStore  # noqa: E402
from underway.store.postgres import schema as pg_schema  # noqa: E402
from underway.store.queries import load_migrations, load_queries  # noqa: E402
from underway.store.rows import JOB_COLUMNS  # noqa: E402


def server_url(url: str) -> str:
    """The URL without underway's options, for a plain psycopg connection."""
    return url.split("?", 1)[0]


def schema_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["schema"][0]


def readable_within(fd: int, seconds: float) -> bool:
    readable, _, _ = select.select([fd], [], [], seconds)
    return bool(readable)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Store]:
    store = open_store(postgres_url)
    store.schema_ensure()
    yield store
    store.close()


@pytest.fixture
def other(postgres_url: str, pg: Store) -> Iterator[Store]:
    """A second store on the same schema: another process's view of the database."""
    store = open_store(postgres_url)
    yield store
    store.close()


# -- transactional dispatch ------------------------------------------------------------------


def test_rolled_back_transaction_leaves_no_job(pg: Store, postgres_url: str) -> None:
    with psycopg.connect(server_url(postgres_url)) as conn:
        job_id = pg.job_enqueue(new_job(), connection=conn)
        assert pg.job_get(job_id) is None, "visible before the caller committed"
        conn.rollback()
    assert pg.job_get(job_id) is None


def test_committed_transaction_keeps_the_job_and_wakes_a_listener(
    pg: Store, other: Store, postgres_url: str
) -> None:
    fd = pg.work_wake_fd()
    assert fd is not None
    pg.work_changed()  # forget what happened before
    with psycopg.connect(server_url(postgres_url)) as conn:
        job_id = other.job_enqueue(new_job(), connection=conn)
        conn.execute("SELECT 1")  # the caller's own work, in the same transaction
        assert not readable_within(fd, 0.2), "NOTIFY delivered before the caller committed"
        assert pg.work_changed() is False
        conn.commit()
    assert readable_within(fd, 1.0)
    assert pg.work_changed() is True
    record = pg.job_get(job_id)
    assert record is not None and record.status == Status.PENDING


def test_app_dispatch_joins_the_callers_transaction(postgres_url: str) -> None:
    app = Underway(postgres_url)
    task = app.task("tests.transactional")(lambda: None)
    try:
        with psycopg.connect(server_url(postgres_url)) as conn:
            kept = app.dispatch(task, {}, connection=conn)
            conn.commit()
            dropped = app.dispatch(task, {}, connection=conn)
            conn.execute("SELECT 1")
            conn.rollback()
        assert app.get(kept) is not None
        assert app.get(dropped) is None
    finally:
        app.store.close()


def test_unique_key_in_a_transaction_finds_the_committed_job(pg: Store, postgres_url: str) -> None:
    first = pg.job_enqueue(new_job(unique_key="fix-all"))
    with psycopg.connect(server_url(postgres_url)) as conn:
        assert pg.job_enqueue(new_job(unique_key="fix-all"), connection=conn) == first


def test_a_connection_of_another_kind_is_a_type_error(pg: Store, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    try:
        with pytest.raises(TypeError, match="psycopg"):
            pg.job_enqueue(new_job(), connection=conn)
    finally:
        conn.close()


# -- schema ----------------------------------------------------------------------------------

MIGRATE = textwrap.dedent(
    """
    import sys
    from underway.store import open_store

    store = open_store(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    store.schema_ensure()
    store.close()
    print("migrated", flush=True)
    """
)


def test_ten_processes_migrate_a_fresh_schema_once(postgres_url: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, postgres_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(10)
    ]
    try:
        for process in processes:  # all imported and waiting: then start them at once
            assert process.stdout is not None and process.stdout.readline() == "ready\n"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            assert out == "migrated\n"
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    schema = schema_of(postgres_url)
    with psycopg.connect(server_url(postgres_url)) as conn:
        rows = conn.execute(f'SELECT version FROM "{schema}".schema_migrations').fetchall()
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'jobs' ORDER BY ordinal_position",
            (schema,),
        ).fetchall()
    assert rows == [(v,) for v in range(1, pg_schema.SCHEMA_VERSION + 1)]
    # job rows are read by position, in the table's column order
    assert tuple(name for (name,) in columns) == JOB_COLUMNS


def test_a_version_1_schema_is_upgraded_in_place(postgres_url: str) -> None:
    schema = schema_of(postgres_url)
    texts = {**load_queries("postgres"), "schema_v1": load_migrations("postgres")[0].sql}
    queries = {
        name: text.replace("{schema}", f'"{schema}"')
        for name, text in texts.items()
        if name in ("schema_create", "schema_migrations_create", "schema_v1")
    }
    plain, keyed = new_job(), new_job(unique_key="k")
    with psycopg.connect(server_url(postgres_url)) as conn:
        conn.execute(queries["schema_create"])
        conn.execute(queries["schema_migrations_create"])
        for statement in queries["schema_v1"].split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f'INSERT INTO "{schema}".schema_migrations VALUES (1, 0)')
        for job in (plain, keyed):
            conn.execute(
                f'INSERT INTO "{schema}".jobs (id, task, queue, status, args, tries, '
                "max_attempts, backoff, created_at, available_at, unique_key) "
                "VALUES (%s, 't', 'default', 'pending', '{}', 1, 1, 1.0, %s, %s, %s)",
                (job.id, NOW, NOW, job.unique_key),
            )
    store = open_store(postgres_url)
    try:
        assert store.job_enqueue(new_job(unique_key="k")) == keyed.id
        assert {job.id for job in store.job_list().jobs} == {plain.id, keyed.id}
    finally:
        store.close()
    with psycopg.connect(server_url(postgres_url)) as conn:
        versions = conn.execute(f'SELECT version FROM "{schema}".schema_migrations ORDER BY 1')
        assert versions.fetchall() == [(v,) for v in range(1, pg_schema.SCHEMA_VERSION + 1)]
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,)
        ).fetchall()
    assert ("jobs_status",) not in indexes
    assert ("jobs_unique_active",) in indexes


def test_a_newer_schema_version_is_refused(pg: Store, postgres_url: str) -> None:
    schema = schema_of(postgres_url)
    with psycopg.connect(server_url(postgres_url)) as conn:
        conn.execute(
            f'INSERT INTO "{schema}".schema_migrations (version, applied_at) VALUES (%s, 0)',
            (pg_schema.SCHEMA_VERSION + 1,),
        )
    newcomer = open_store(postgres_url)
    try:
        with pytest.raises(StoreError, match="newer than this underway"):
            newcomer.schema_ensure()
        with pytest.raises(StoreError, match="upgrade underway"):
            newcomer.job_get("any")  # first use migrates, so it refuses too
    finally:
        newcomer.close()


def test_a_foreign_schema_is_left_alone(postgres_url: str) -> None:
    schema = schema_of(postgres_url)
    with psycopg.connect(server_url(postgres_url)) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".accounts (id int)')
    store = open_store(postgres_url)
    try:
        with pytest.raises(StoreError, match=r"not underway's.*accounts"):
            store.schema_ensure()
    finally:
        store.close()
    with psycopg.connect(server_url(postgres_url)) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    assert tables == [("accounts",)]


def test_an_empty_schema_made_by_a_dba_is_used(postgres_url: str) -> None:
    schema = schema_of(postgres_url)
    with psycopg.connect(server_url(postgres_url)) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    store = open_store(postgres_url)
    try:
        job_id = store.job_enqueue(new_job())
        assert store.job_get(job_id) is not None
    finally:
        store.close()


@pytest.mark.parametrize(
    "schema", ["bad-name", "x;drop table jobs", "pg_mine", "1st", "a" * 64, '"quoted"']
)
def test_a_bad_schema_name_is_a_configuration_error(schema: str) -> None:
    with pytest.raises(ConfigurationError, match="schema"):
        open_store(f"postgresql://postgres@127.0.0.1:5432/test?schema={schema}")


def test_the_schema_name_is_quoted_so_case_is_kept(postgres_url: str) -> None:
    schema = f"UW_Mixed_{secrets.token_hex(3)}"
    url = f"{server_url(postgres_url)}?schema={schema}"
    store = open_store(url)
    try:
        job_id = store.job_enqueue(new_job())
        assert store.job_get(job_id) is not None
    finally:
        store.close()
        with psycopg.connect(server_url(postgres_url), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_a_claim_commits_asynchronously_only_inside_its_own_statement(pg: Store) -> None:
    for _ in range(2):
        pg.job_enqueue(new_job())
    assert len(pg.job_claim("w", ClaimRequest((), 1, 30, NOW + 1))) == 1
    assert isinstance(pg, PostgresStore)
    with pg._connection() as conn:  # the pool's one idle connection: the one that claimed
        row = conn.execute("SHOW synchronous_commit").fetchone()
    assert row == {"synchronous_commit": "on"}


def test_every_named_query_is_used() -> None:
    assert_every_named_query_is_used("postgres")


# -- wake-up ---------------------------------------------------------------------------------


def test_enqueue_from_another_connection_wakes_within_a_second(pg: Store, other: Store) -> None:
    fd = pg.work_wake_fd()
    assert fd is not None
    pg.work_changed()
    assert pg.work_changed() is False
    for _ in range(3):
        started = time.monotonic()
        other.job_enqueue(new_job())
        assert readable_within(fd, 1.0), "no notification within a second"
        assert time.monotonic() - started < 1.0
        assert pg.work_changed() is True
        assert pg.work_changed() is False


def test_a_retry_release_and_rescue_to_pending_wake_workers(pg: Store, other: Store) -> None:
    fd = pg.work_wake_fd()
    assert fd is not None
    ids = [other.job_enqueue(new_job(max_attempts=3)) for _ in range(3)]
    claimed = other.job_claim("w", ClaimRequest((), 3, 30, NOW))
    assert sorted(j.id for j in claimed) == sorted(ids)
    leases = [Lease(job.id, job.attempts) for job in claimed]
    actions = [
        lambda: other.job_finish(
            "w", [Outcome(leases[0], Status.PENDING, NOW, error="E: x", retry_at=NOW + 1)]
        ),
        lambda: other.job_release("w", [leases[1]], NOW),
        lambda: other.lease_rescue(NOW + 60),
    ]
    for action in actions:
        pg.work_changed()
        action()
        assert readable_within(fd, 1.0)
        assert pg.work_changed() is True
    assert {other.job_get(i).status for i in ids} == {Status.PENDING}  # type: ignore[union-attr]


def test_work_changed_does_not_block(pg: Store) -> None:
    assert pg.work_wake_fd() is not None
    pg.work_changed()
    started = time.monotonic()
    for _ in range(100):
        assert pg.work_changed() is False
    assert time.monotonic() - started < 0.5


# -- outages ---------------------------------------------------------------------------------

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test?schema=underway_nowhere"


def test_an_unreachable_server_is_store_unavailable_quickly() -> None:
    store = open_store(UNREACHABLE)
    try:
        for operation in (store.schema_ensure, lambda: store.job_get("x")):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:1/test"):
                operation()
            assert time.monotonic() - started < 3.0
        started = time.monotonic()
        assert store.work_wake_fd() is None
        assert store.work_changed() is False
        assert time.monotonic() - started < 3.0
    finally:
        store.close()


def test_a_server_that_never_answers_is_unavailable_within_the_pool_timeout() -> None:
    """A listening socket that never accepts: the TCP handshake succeeds, then nothing."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    store = open_store(
        f"postgresql://postgres@127.0.0.1:{port}/test?pool_timeout=1&connect_timeout=2"
    )
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="no connection within 1 s"):
            store.job_get("x")
        assert time.monotonic() - started < 2.0
        started = time.monotonic()
        assert store.work_wake_fd() is None  # bounded by connect_timeout, then backs off
        assert store.work_changed() is False
        assert time.monotonic() - started < 3.0
    finally:
        store.close()
        silent.close()


def test_dispatch_to_an_unreachable_server_raises_store_unavailable() -> None:
    app = Underway(UNREACHABLE)
    task = app.task("tests.nowhere")(lambda: None)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="unavailable"):
            app.dispatch(task)
        assert time.monotonic() - started < 3.0
    finally:
        app.store.close()


def test_the_password_is_not_shown() -> None:
    store = open_store("postgresql://postgres:s3cret@127.0.0.1:1/test?schema=x")
    try:
        assert "s3cret" not in store.url
        with pytest.raises(StoreUnavailable) as caught:
            store.job_get("x")
        assert "s3cret" not in str(caught.value)
    finally:
        store.close()


def test_store_and_listener_recover_when_the_server_drops_their_connections(
    postgres_url: str,
) -> None:
    """What a server restart does to a client, without stopping the shared server: every
    connection of this store is terminated by the server."""
    name = f"uw_drop_{secrets.token_hex(4)}"
    store = open_store(f"{postgres_url}&application_name={name}")
    other = open_store(postgres_url)
    try:
        store.job_enqueue(new_job())
        fd = store.work_wake_fd()
        assert fd is not None
        store.work_changed()
        with psycopg.connect(server_url(postgres_url), autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (name,),
            ).fetchone()
        assert killed is not None and killed[0] >= 2  # the pool's connection and the listener
        assert readable_within(fd, 5.0), "the dropped LISTEN connection did not wake us"
        assert store.work_changed() is True  # reconnected: notifications may have been missed
        job_id = store.job_enqueue(new_job())  # the pool replaced its dead connection
        assert store.job_get(job_id) is not None
        new_fd = store.work_wake_fd()
        assert new_fd is not None
        store.work_changed()
        other.job_enqueue(new_job())
        assert readable_within(new_fd, 1.0)
        assert store.work_changed() is True
    finally:
        store.close()
        other.close()


def test_a_closed_store_opens_again_on_use(pg: Store) -> None:
    job_id = pg.job_enqueue(new_job())
    pg.close()
    assert pg.job_get(job_id) is not None
    assert pg.work_wake_fd() is not None


# -- data PostgreSQL cannot hold -------------------------------------------------------------


def test_nul_characters(pg: Store) -> None:
    with pytest.raises(ValueError, match="NUL"):
        pg.job_enqueue(new_job(args={"text": "a\x00b"}))
    job_id = pg.job_enqueue(new_job(args={"text": "a\\u0000b"}))  # an escaped one is fine
    record = pg.job_get(job_id)
    assert record is not None and record.args == {"text": "a\\u0000b"}
    [claimed] = pg.job_claim("w", ClaimRequest((), 1, 30, NOW))
    outcome = Outcome(
        Lease(claimed.id, 1), Status.COMPLETED, NOW, result={"out": "x\x00y"}, error=None
    )
    assert pg.job_finish("w", [outcome]) == []
    record = pg.job_get(job_id)
    assert record is not None and record.result == {"out": "x\ufffdy"}


# -- the claim path as history grows ---------------------------------------------------------


def test_claim_cost_does_not_grow_with_finished_history(pg: Store, postgres_url: str) -> None:
    """With 200,000 finished jobs, a claim reads a handful of pages through the partial index
    on pending work, never the finished rows."""
    schema = schema_of(postgres_url)
    with psycopg.connect(server_url(postgres_url)) as conn:
        conn.execute(
            f"""
            INSERT INTO "{schema}".jobs (id, task, queue, status, args, tries, max_attempts,
                backoff, created_at, available_at, completed_at, attempts)
            SELECT lpad(n::text, 26, '0'), 't', 'default', 'completed', '{{}}', 1, 1, 1.0,
                   %(now)s, %(now)s, %(now)s, 1
            FROM generate_series(1, 200000) AS n
            """,
            {"now": NOW},
        )
        conn.execute(f'ANALYZE "{schema}".jobs')
    ids = [pg.job_enqueue(new_job()) for _ in range(5)]
    queries = load_queries("postgres")
    with psycopg.connect(server_url(postgres_url)) as conn:
        for name, extra in (("job_claim_any", {}), ("job_claim_queue", {"queue": "default"})):
            text = queries[name].replace("{schema}", f'"{schema}"')
            params = {
                "worker_id": "w",
                "lease_expires_at": NOW + 30,
                "now": NOW,
                "limit": 2,
                "min_tries": 1,
                "async_commit": True,
            }
            plan = conn.execute(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + text, {**params, **extra}
            ).fetchone()[0][0]
            conn.rollback()
            assert plan["Plan"]["Actual Rows"] == 2
            touched = plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"]
            assert touched < 100, f"{name} touched {touched} blocks: {plan}"
            assert "Seq Scan" not in str(plan)
    assert pg.job_claim("w", ClaimRequest((), 5, 30, NOW))[0].id == ids[0]
