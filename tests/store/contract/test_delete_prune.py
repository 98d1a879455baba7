"""Delete one job, prune finished history; entries go with their job."""

from __future__ import annotations

from underway.ids import new_job_id
from underway.model import NewJob, Status
from underway.store import (
    Outcome,
    ProgressWrite,
    Store,
)

from .helpers import (
    NOW,
    claim,
    claim_one,
    enqueue,
    finish,
    get,
    new_job,
    statuses,
)

# -- delete and prune ------------------------------------------------------------------------


def test_delete_a_job_and_its_entries(store: Store) -> None:
    job = new_job()
    store.job_enqueue(job)
    lease = claim_one(store, job.id)
    write = ProgressWrite(lease, results=[{"n": 1}], errors=["e"])
    finish(store, lease, Status.FAILED, error="E: x", progress=write)
    assert store.job_delete(job.id) is True
    assert store.job_get(job.id) is None
    assert store.job_delete(job.id) is False
    # the entries went with it: a job stored again under the same id starts clean
    store.job_enqueue(job)
    assert (get(store, job.id).results, get(store, job.id).errors) == ((), ())


def test_delete_a_pending_job(store: Store) -> None:
    job_id = enqueue(store)
    assert store.job_delete(job_id) is True
    assert store.job_get(job_id) is None
    assert claim(store) == []


def test_delete_refuses_a_processing_job(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    assert store.job_delete(job_id) is False
    assert get(store, job_id).status == Status.PROCESSING
    assert finish(store, lease, Status.COMPLETED) == []


def test_delete_an_unknown_job(store: Store) -> None:
    assert store.job_delete(new_job_id()) is False


def test_prune_deletes_only_jobs_finished_before_the_cutoff(store: Store) -> None:
    def finished(status: Status, at: float) -> NewJob:
        job = new_job()
        store.job_enqueue(job)
        if status == Status.CANCELLED:
            store.job_cancel(job.id, at)
            return job
        lease = claim_one(store, job.id)
        write = ProgressWrite(lease, results=[{"n": 1}], errors=["e"])
        outcome = Outcome(lease, status, at, error="E: x", progress=write)
        assert store.job_finish("w1", [outcome]) == []
        return job

    old = [finished(s, NOW + 10) for s in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)]
    recent = [finished(s, NOW + 30) for s in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)]
    pending = enqueue(store, created_at=NOW - 1000)
    processing = enqueue(store, created_at=NOW - 1000)
    claim_one(store, processing)

    assert store.job_prune(NOW + 20) == 3
    assert sorted(statuses(store)) == sorted([*(j.id for j in recent), pending, processing])
    assert store.job_prune(NOW + 20) == 0

    # their entries went too: the same id stored again has none
    store.job_enqueue(old[0])
    assert (get(store, old[0].id).results, get(store, old[0].id).errors) == ((), ())
    assert get(store, recent[0].id).results == ({"n": 1},)
