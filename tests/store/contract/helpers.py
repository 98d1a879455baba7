"""What every contract test shares: the lease length, and helpers that enqueue, claim and finish
jobs through Store methods only. NOW and new_job come from tests/store/store_helpers.py."""

from __future__ import annotations

from typing import Any

from store_helpers import NOW, new_job

from underway.model import JobRecord, Status
from underway.store import ClaimRequest, Lease, Outcome, Store, WorkerInfo

__all__ = [
    "LEASE",
    "NOW",
    "claim",
    "claim_one",
    "end",
    "enqueue",
    "finish",
    "get",
    "new_job",
    "statuses",
    "worker_info",
]

LEASE = 30.0


def enqueue(store: Store, **fields: Any) -> str:
    job = new_job(**fields)
    job_id = store.job_enqueue(job)
    assert job_id == job.id
    return job_id


def get(store: Store, job_id: str) -> JobRecord:
    record = store.job_get(job_id)
    assert record is not None, f"job {job_id} is gone"
    return record


def claim_one(store: Store, job_id: str, worker: str = "w1", now: float = NOW) -> Lease:
    record = store.job_claim_one(worker, job_id, LEASE, now)
    assert record is not None, f"job {job_id} could not be claimed"
    return Lease(record.id, record.attempts)


def claim(store: Store, *, queues: tuple[str, ...] = (), limit: int = 10, **kw: Any) -> list[str]:
    kw = {"lease_seconds": LEASE, "now": NOW, **kw}
    worker = kw.pop("worker", "w1")
    request = ClaimRequest(list(queues), limit, kw.pop("lease_seconds"), kw.pop("now"), **kw)
    return [r.id for r in store.job_claim(worker, request)]


def finish(
    store: Store, lease: Lease, status: Status, worker: str = "w1", **fields: Any
) -> list[str]:
    fields.setdefault("finished_at", NOW + 1)
    return store.job_finish(worker, [Outcome(lease, status, **fields)])


def worker_info(worker_id: str = "w1", **fields: Any) -> WorkerInfo:
    defaults: dict[str, Any] = {
        "hostname": "host-a",
        "pid": 4242,
        "queues": ("default", "reports"),
        "processes": 2,
        "concurrency": 4,
        "started_at": NOW - 100,
        "last_seen_at": NOW,
        "lease_seconds": LEASE,
        "running": 0,
    }
    return WorkerInfo(id=worker_id, **{**defaults, **fields})


def statuses(store: Store) -> dict[str, Status]:
    page = store.job_list(limit=1000)
    assert page.next_cursor is None
    return {job.id: job.status for job in page.jobs}


def end(store: Store, job_id: str, status: Status) -> None:
    """Bring a pending job to the given finished status."""
    if status == Status.CANCELLED:
        store.job_cancel(job_id, NOW + 1)
        return
    lease = claim_one(store, job_id)
    assert finish(store, lease, status, error="E: x" if status == Status.FAILED else None) == []
