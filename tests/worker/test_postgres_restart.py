"""A worker on PostgreSQL lives through the database restarting under it.

PostgreSQL is restarted mid-run, then stopped for a while and started again. The worker must not
exit; every job must complete, its side effect happening exactly once; and a dispatch while the
server is down must fail with StoreUnavailable within a few seconds instead of hanging.

This stops the machine's shared PostgreSQL for a few seconds, so it is marked slow.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import time
from collections import Counter

import pytest

from underway.errors import StoreUnavailable
from underway.ids import new_job_id
from underway.model import NewJob
from underway.store import open_store

from .conftest import Harness, wait_until

pytestmark = pytest.mark.slow

JOBS = 300
CLUSTERS = "/etc/postgresql"
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def url(postgres_url: str) -> str:
    """This module runs on PostgreSQL only."""
    return postgres_url


def pg_ctlcluster(action: str) -> None:
    version = sorted(os.listdir(CLUSTERS))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        timeout=120,
        capture_output=True,
    )


def ensure_running() -> None:
    """Start PostgreSQL unless it runs (start refuses, harmlessly, when it does)."""
    version = sorted(os.listdir(CLUSTERS))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
        check=False,
        timeout=120,
        capture_output=True,
    )


def require_cluster_control() -> None:
    if shutil.which("pg_ctlcluster") and os.path.isdir(CLUSTERS) and os.listdir(CLUSTERS):
        return
    reason = "pg_ctlcluster is not available to restart PostgreSQL"
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def finished(uw: Harness) -> Counter[str]:
    return Counter(uw.lines("finished"))


def test_worker_carries_on_through_a_database_restart(uw: Harness) -> None:
    require_cluster_control()
    ids = [uw.dispatch("steady", seconds=0.02) for _ in range(JOBS)]
    worker = uw.worker("--processes", "2", "--concurrency", "2", "--lease", "30")
    worker.wait_started()
    wait_until(lambda: len(finished(uw)) >= 40, "the first jobs to finish")

    try:
        pg_ctlcluster("restart")
        wait_until(
            lambda: len(finished(uw)) >= 120 or worker.popen.poll() is not None,
            "jobs to go on finishing after the restart",
        )
        assert worker.popen.poll() is None, worker.log()

        pg_ctlcluster("stop")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="unavailable"):
            uw.app.dispatch("steady", {"seconds": 0.02})
        assert time.monotonic() - started < 6.0
        # The worker meets the outage (its heartbeat runs every second) and says so.
        wait_until(
            lambda: "unavailable" in worker.log() or worker.popen.poll() is not None,
            "the worker to notice the outage",
        )
        assert worker.popen.poll() is None, worker.log()
    finally:
        ensure_running()

    wait_until(lambda: len(finished(uw)) >= JOBS, f"all {JOBS} jobs to finish", timeout=90)
    wait_until(
        lambda: uw.app.stats()["queues"] == {"default": {"completed": JOBS}},
        "every job to be completed in the database",
    )
    effects = finished(uw)
    assert set(effects) == set(ids)
    assert [job for job, times in effects.items() if times != 1] == []
    assert worker.popen.poll() is None, worker.log()
    worker.send(signal.SIGTERM)
    assert worker.wait() == 0, worker.log()


def test_the_same_store_works_again_after_the_server_restarts(uw: Harness) -> None:
    """The store's side, which needs no worker: while the server is down, dispatch and reads
    fail fast with StoreUnavailable and the wake-up fd neither spins nor blocks; once it is back,
    the same app dispatches and reads again and its LISTEN connection returns."""
    require_cluster_control()
    app, store = uw.app, uw.app.store
    before = app.dispatch("steady", {"seconds": 0})
    fd = store.work_wake_fd()
    assert fd is not None
    store.work_changed()
    pg_ctlcluster("stop")
    try:
        for attempt in (lambda: app.dispatch("steady", {"seconds": 0}), lambda: app.get(before)):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:5432"):
                attempt()
            assert time.monotonic() - started < 6.0
        assert readable_within(fd, 5.0), "the server's going did not show on the wake-up fd"
        started = time.monotonic()
        assert store.work_changed() is False
        assert store.work_wake_fd() is None
        assert time.monotonic() - started < 1.0
    finally:
        ensure_running()
    after = app.dispatch("steady", {"seconds": 0})
    assert app.get(before) is not None and app.get(after) is not None
    new_fd = wait_until(store.work_wake_fd, "the LISTEN connection to return", 15)
    assert store.work_changed() is True  # notifications may have been missed meanwhile
    assert store.work_changed() is False
    other = open_store(uw.url)
    try:
        other.job_enqueue(new_job())
    finally:
        other.close()
    assert readable_within(new_fd, 1.0)
    assert store.work_changed() is True


def readable_within(fd: int, seconds: float) -> bool:
    readable, _, _ = select.select([fd], [], [], seconds)
    return bool(readable)


def new_job() -> NewJob:
    now = time.time()
    return NewJob(
        id=new_job_id(),
        task="steady",
        queue="default",
        args={"seconds": 0},
        priority=0,
        max_attempts=1,
        timeout=None,
        backoff=1.0,
        created_at=now,
        available_at=now,
    )
