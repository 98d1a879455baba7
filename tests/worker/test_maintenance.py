"""Maintenance on its own: one pass at a time against a real store, once per backend.

No supervisor, no children: the jobs are claimed here, and the monotonic times handed to run_due()
are the test's own (T0 onwards), so intervals are exact; the store sees the wall clock.
"""

from __future__ import annotations

import multiprocessing
import socket
import time
from collections.abc import Iterator

import pytest

from underway.errors import StoreUnavailable
from underway.ids import new_job_id
from underway.model import JobRecord, Lease, NewJob, Status
from underway.store import Store, open_store
from underway.worker.config import WorkerConfig
from underway.worker.maintenance import Duty, Maintenance, Report
from underway.worker.outcome import Running
from underway.worker.pool import Child

LEASE = 30.0  # so the heartbeat is due every 1 s and the rescue every 10 s
T0 = 1000.0
ME, OTHER = "me:1:aaaaaa", "other:2:bbbbbb"


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    opened = open_store(url)
    opened.schema_ensure()
    yield opened
    opened.close()


@pytest.fixture
def child() -> Iterator[Child]:
    """A child that is never started: maintenance must not touch it."""
    ours, theirs = multiprocessing.Pipe()
    yield Child(multiprocessing.get_context("spawn").Process(), ours, slots=1)
    ours.close()
    theirs.close()


def config(max_time: float | None = None) -> WorkerConfig:
    return WorkerConfig(
        app_spec="unused:app", processes=1, concurrency=1, lease=LEASE, max_time=max_time
    )


def enqueue(store: Store, max_attempts: int = 1) -> str:
    past = time.time() - 600
    return store.job_enqueue(
        NewJob(new_job_id(), "tests.work", "default", {}, 0, max_attempts, None, 1.0, past, past)
    )


def claim(store: Store, worker_id: str, lease: float = LEASE, ago: float = 0.0) -> JobRecord:
    """A new job, claimed by worker_id `ago` seconds ago."""
    record = store.job_claim_one(worker_id, enqueue(store, 2), lease, time.time() - ago)
    assert record is not None
    return record


def held_by_me(record: JobRecord, child: Child) -> Running:
    return Running(record, Lease(record.id, record.attempts), child, 0.0, None, None)


def expiry(store: Store, job_id: str) -> float | None:
    record = store.job_get(job_id)
    assert record is not None
    return record.lease_expires_at


def status(store: Store, job_id: str) -> Status:
    record = store.job_get(job_id)
    assert record is not None
    return record.status


def test_heartbeat_renews_leases_and_reports_the_lost_ones(store: Store, child: Child) -> None:
    kept, cancelled, stopping = (held_by_me(claim(store, ME, ago=5), child) for _ in range(3))
    stopping.lost = True  # already being stopped: neither renewed nor reported again
    running = {r.record.id: r for r in (kept, cancelled, stopping)}
    before = {job_id: expiry(store, job_id) for job_id in running}
    store.job_cancel(cancelled.record.id, time.time())

    report = Maintenance(store, ME, config(), running, T0).run_due(T0)

    assert report == Report(lost=[cancelled])
    renewed = expiry(store, kept.record.id)
    assert renewed is not None and renewed > (before[kept.record.id] or 0) + 4
    assert expiry(store, stopping.record.id) == before[stopping.record.id]
    assert running == {r.record.id: r for r in (kept, cancelled, stopping)}  # read, not changed
    (me,) = [w for w in store.worker_list(time.time()) if w.id == ME]
    assert (me.running, me.hostname, me.lease_seconds) == (3, socket.gethostname(), LEASE)


def test_heartbeat_runs_once_per_interval(store: Store, child: Child) -> None:
    job = held_by_me(claim(store, ME), child)
    maintenance = Maintenance(store, ME, config(), {job.record.id: job}, T0)
    assert maintenance.run_due(T0) == Report()
    store.job_cancel(job.record.id, time.time())

    assert maintenance.run_due(T0 + 0.99) == Report()  # not due: the cancel is not seen yet
    assert maintenance.next_due() == T0 + 1.0
    assert maintenance.run_due(T0 + 1.0) == Report(lost=[job])


def test_beat_heartbeats_at_once_and_reschedules(store: Store) -> None:
    maintenance = Maintenance(store, ME, config(), {}, T0)
    assert maintenance.beat(T0 + 0.5) == Report()
    assert [w.running for w in store.worker_list(time.time()) if w.id == ME] == [0]
    assert maintenance.heartbeat.next_at == T0 + 1.5


def test_rescue_requeues_expired_leases_of_another_worker_at_its_interval(store: Store) -> None:
    expired = claim(store, OTHER, lease=1.0, ago=60)
    alive = claim(store, OTHER)  # its lease runs: not ours to touch
    maintenance = Maintenance(store, ME, config(), {}, T0)

    assert maintenance.run_due(T0) == Report(freed=True)
    assert status(store, expired.id) == Status.PENDING
    assert status(store, alive.id) == Status.PROCESSING

    later = claim(store, OTHER, lease=1.0, ago=60)
    assert maintenance.run_due(T0 + 9.9) == Report()  # the heartbeat ran, the rescue was not due
    assert status(store, later.id) == Status.PROCESSING
    assert maintenance.run_due(T0 + 10.0) == Report(freed=True)
    assert status(store, later.id) == Status.PENDING
    assert maintenance.run_due(T0 + 20.0) == Report()  # nothing left to rescue


def test_max_time_asks_to_stop(store: Store) -> None:
    maintenance = Maintenance(store, ME, config(max_time=5.0), {}, T0)
    assert not maintenance.run_due(T0 + 4.9).stop
    assert maintenance.run_due(T0 + 5.0) == Report(stop=True)
    assert maintenance.run_due(T0 + 5.1) == Report(stop=True)  # checked on every pass
    assert not Maintenance(store, ME, config(), {}, T0).run_due(T0 + 1e6).stop


def test_a_failing_duty_ends_the_pass_and_keeps_what_it_found(store: Store, child: Child) -> None:
    """A duty is one entry; one that fails (an outage) keeps what the heartbeat found before it,
    skips the rest of the pass, and runs again on the next pass."""
    job = held_by_me(claim(store, ME), child)
    expired = claim(store, OTHER, lease=1.0, ago=60)
    maintenance = Maintenance(store, ME, config(max_time=0.0), {job.record.id: job}, T0)
    calls: list[float] = []
    outage = StoreUnavailable("connection refused")

    def failing(now: float, _report: Report) -> None:
        calls.append(now)
        raise outage

    maintenance.duties.insert(1, Duty("failing", failing, 5.0, T0))
    store.job_cancel(job.record.id, time.time())

    assert maintenance.run_due(T0) == Report(lost=[job], error=outage)
    assert status(store, expired.id) == Status.PROCESSING  # the rescue after it did not run
    assert maintenance.run_due(T0 + 0.5) == Report(error=outage)  # due again at once
    assert calls == [T0, T0 + 0.5]
    assert maintenance.next_due() == T0  # the rescue is still due
