"""Maintenance on its own: one pass at a time against a real store, once per backend.

No supervisor, no children: the jobs are claimed here, and the monotonic clock Maintenance reads
is the test's own (T0 onwards, moved by hand), so intervals are exact; the store sees the wall
clock. A store call that "blocks" moves the test's clock on while it runs.
"""

from __future__ import annotations

import multiprocessing
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from underway.errors import StoreUnavailable
from underway.ids import new_job_id
from underway.model import JobRecord, Lease, NewJob, Status
from underway.store import Store
from underway.worker.books import Running
from underway.worker.config import WorkerConfig
from underway.worker.maintenance import Duty, Maintenance, Report
from underway.worker.pool import Child

LEASE = 30.0  # so the heartbeat is due every 1 s and the rescue every 10 s
T0 = 1000.0
ME, OTHER = "me:1:aaaaaa", "other:2:bbbbbb"


class Clock:
    """The monotonic clock Maintenance reads: the test sets it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def new(store: Store, clock: Clock, running: Any = None, **options: Any) -> Maintenance:
    return Maintenance(store, ME, config(**options), running or {}, T0, clock)


def run_at(maintenance: Maintenance, clock: Clock, now: float) -> Report:
    clock.now = now
    return maintenance.run_due()


def healthy(maintenance: Maintenance, clock: Clock, start: float, end: float) -> None:
    """A pass every second from start to end (excluded), each reporting nothing."""
    for second in range(int(start - T0), int(end - T0)):
        assert run_at(maintenance, clock, T0 + second) == Report()


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


def test_heartbeat_renews_leases_and_reports_the_lost_ones(
    store: Store, child: Child, clock: Clock
) -> None:
    kept, cancelled, stopping = (held_by_me(claim(store, ME, ago=5), child) for _ in range(3))
    stopping.lost = True  # already being stopped: neither renewed nor reported again
    running = {r.key: r for r in (kept, cancelled, stopping)}
    before = {r.record.id: expiry(store, r.record.id) for r in running.values()}
    store.job_cancel(cancelled.record.id, time.time())

    report = new(store, clock, running).run_due()

    assert report == Report(lost=[cancelled])
    renewed = expiry(store, kept.record.id)
    assert renewed is not None and renewed > (before[kept.record.id] or 0) + 4
    assert expiry(store, stopping.record.id) == before[stopping.record.id]
    assert running == {r.key: r for r in (kept, cancelled, stopping)}  # read, not changed
    (me,) = [w for w in store.worker_list(time.time()) if w.id == ME]
    assert (me.running, me.hostname, me.lease_seconds) == (3, socket.gethostname(), LEASE)


def test_heartbeat_runs_once_per_interval(store: Store, child: Child, clock: Clock) -> None:
    job = held_by_me(claim(store, ME), child)
    maintenance = new(store, clock, {job.key: job})
    assert maintenance.run_due() == Report()
    store.job_cancel(job.record.id, time.time())

    assert run_at(maintenance, clock, T0 + 0.99) == Report()  # not due: the cancel is not seen
    assert maintenance.next_due() == T0 + 1.0
    assert run_at(maintenance, clock, T0 + 1.0) == Report(lost=[job])


def test_beat_heartbeats_at_once_and_reschedules(store: Store, clock: Clock) -> None:
    maintenance = new(store, clock)
    clock.now = T0 + 0.5
    assert maintenance.beat() == Report()
    assert [w.running for w in store.worker_list(time.time()) if w.id == ME] == [0]
    assert maintenance.heartbeat.next_at == T0 + 1.5


def test_rescue_requeues_expired_leases_of_another_worker_at_its_interval(
    store: Store, clock: Clock
) -> None:
    expired = claim(store, OTHER, lease=1.0, ago=60)
    alive = claim(store, OTHER)  # its lease runs: not ours to touch
    maintenance = new(store, clock)

    # A worker rescues only once it has seen the store for a full lease itself.
    healthy(maintenance, clock, T0, T0 + LEASE)
    assert status(store, expired.id) == Status.PROCESSING
    assert run_at(maintenance, clock, T0 + LEASE) == Report(freed=True)
    assert status(store, expired.id) == Status.PENDING
    assert status(store, alive.id) == Status.PROCESSING

    later = claim(store, OTHER, lease=1.0, ago=60)
    healthy(maintenance, clock, T0 + LEASE + 1, T0 + LEASE + 10)  # the rescue is not due
    assert status(store, later.id) == Status.PROCESSING
    assert run_at(maintenance, clock, T0 + LEASE + 10) == Report(freed=True)
    assert status(store, later.id) == Status.PENDING
    assert run_at(maintenance, clock, T0 + LEASE + 20) == Report()  # nothing left to rescue


def test_after_a_stall_the_rescue_waits_for_a_full_lease_of_sight(
    store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every worker was blocked at once (a lock held from outside): our heartbeat returns 20 s
    late, and another worker's lease has run out meanwhile. That worker is alive and about to
    renew: it must get a full lease of our own sight before we rescue its job."""
    maintenance = new(store, clock)
    healthy(maintenance, clock, T0, T0 + LEASE + 1)  # rescuing freely by now
    theirs = claim(store, OTHER, lease=LEASE, ago=LEASE + 5)  # ran out during the stall
    renew = store.job_heartbeat

    def blocked(*args: Any) -> set[str]:
        clock.now += 20.0
        return renew(*args)

    monkeypatch.setattr(store, "job_heartbeat", blocked)
    assert run_at(maintenance, clock, T0 + LEASE + 1) == Report()
    back = T0 + LEASE + 21
    assert maintenance.sighted_since == back
    assert maintenance.heartbeat.next_at == back  # its leases ran from before the wait: again
    assert status(store, theirs.id) == Status.PROCESSING
    monkeypatch.setattr(store, "job_heartbeat", renew)

    healthy(maintenance, clock, back, back + LEASE)
    assert status(store, theirs.id) == Status.PROCESSING
    assert run_at(maintenance, clock, back + LEASE) == Report(freed=True)
    assert status(store, theirs.id) == Status.PENDING


def test_a_failed_store_call_restarts_the_sight_too(store: Store, clock: Clock) -> None:
    """A failure (an outage) short enough to leave no gap between heartbeats still counts."""
    expired = claim(store, OTHER, lease=1.0, ago=60)
    maintenance = new(store, clock)
    healthy(maintenance, clock, T0, T0 + LEASE)
    maintenance.store_failed()  # the supervisor's own call failed
    assert run_at(maintenance, clock, T0 + LEASE) == Report()
    assert maintenance.sighted_since == T0 + LEASE
    assert status(store, expired.id) == Status.PROCESSING
    healthy(maintenance, clock, T0 + LEASE + 1, T0 + 2 * LEASE)
    assert run_at(maintenance, clock, T0 + 2 * LEASE) == Report(freed=True)


def test_max_time_asks_to_stop(store: Store, clock: Clock) -> None:
    maintenance = new(store, clock, max_time=5.0)
    assert not run_at(maintenance, clock, T0 + 4.9).stop
    assert run_at(maintenance, clock, T0 + 5.0) == Report(stop=True)
    assert run_at(maintenance, clock, T0 + 5.1) == Report(stop=True)  # checked on every pass
    assert not run_at(new(store, clock), clock, T0 + 1e6).stop


def test_max_time_counts_the_time_a_store_call_waited(
    store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    maintenance = new(store, clock, max_time=5.0)
    renew = store.job_heartbeat

    def blocked(*args: Any) -> set[str]:
        clock.now += 6.0
        return renew(*args)

    monkeypatch.setattr(store, "job_heartbeat", blocked)
    assert run_at(maintenance, clock, T0) == Report(stop=True)


def test_a_failing_duty_ends_the_pass_and_keeps_what_it_found(
    store: Store, child: Child, clock: Clock
) -> None:
    """A duty is one entry; one that fails (an outage) keeps what the heartbeat found before it,
    skips the rest of the pass, and runs again on the next pass."""
    job = held_by_me(claim(store, ME), child)
    expired = claim(store, OTHER, lease=1.0, ago=60)
    maintenance = new(store, clock, {job.key: job}, max_time=0.0)
    calls: list[float] = []
    outage = StoreUnavailable("connection refused")

    def failing(now: float, _report: Report) -> None:
        calls.append(now)
        raise outage

    maintenance.duties.insert(1, Duty("failing", failing, 5.0, T0))
    store.job_cancel(job.record.id, time.time())

    assert run_at(maintenance, clock, T0) == Report(lost=[job], error=outage)
    assert status(store, expired.id) == Status.PROCESSING  # the rescue after it did not run
    assert run_at(maintenance, clock, T0 + 0.5) == Report(error=outage)  # due again at once
    assert calls == [T0, T0 + 0.5]
    assert maintenance.next_due() == T0  # the rescue is still due
    assert maintenance.blind  # the next heartbeat restarts the sight
