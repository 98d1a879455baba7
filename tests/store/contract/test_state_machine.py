"""Every store operation, from every state, moves a job only as the state machine allows."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from underway.errors import InvalidTransition
from underway.model import Status
from underway.states import TRANSITIONS
from underway.store import (
    ClaimRequest,
    Lease,
    Outcome,
    ProgressWrite,
    Store,
)

from .helpers import (
    LEASE,
    NOW,
    claim_one,
    enqueue,
    finish,
    get,
    worker_info,
)

# -- the state machine -----------------------------------------------------------------------


def bring_to(store: Store, status: Status) -> tuple[str, Lease]:
    job_id = enqueue(store, max_attempts=2)
    lease = Lease(job_id, 1)
    if status == Status.PENDING:
        return job_id, lease
    if status == Status.CANCELLED:
        store.job_cancel(job_id, NOW)
        return job_id, lease
    lease = claim_one(store, job_id)
    if status != Status.PROCESSING:
        assert finish(store, lease, status, finished_at=NOW, error="E: x") == []
    return job_id, lease


def _cancel(store: Store, job_id: str, _lease: Lease) -> None:
    store.job_cancel(job_id, NOW + 100)


def _retry(store: Store, job_id: str, _lease: Lease) -> None:
    store.job_retry(job_id, NOW + 100)


def _claim(store: Store, _job_id: str, _lease: Lease) -> None:
    store.job_claim("w2", ClaimRequest([], 10, LEASE, NOW + 100))


def _claim_one(store: Store, job_id: str, _lease: Lease) -> None:
    store.job_claim_one("w2", job_id, LEASE, NOW + 100)


def _finisher(status: Status) -> Callable[[Store, str, Lease], None]:
    def run(store: Store, _job_id: str, lease: Lease) -> None:
        retry_at = NOW + 200 if status == Status.PENDING else None
        store.job_finish("w1", [Outcome(lease, status, NOW + 100, error="E", retry_at=retry_at)])

    return run


def _release(store: Store, _job_id: str, lease: Lease) -> None:
    store.job_release("w1", [lease], NOW + 100)


def _rescue(store: Store, _job_id: str, _lease: Lease) -> None:
    store.lease_rescue(NOW + 100)


def _progress(store: Store, _job_id: str, lease: Lease) -> None:
    store.job_write_progress("w1", [ProgressWrite(lease, processed=1)])


def _heartbeat(store: Store, _job_id: str, lease: Lease) -> None:
    store.job_heartbeat(worker_info(), [lease], LEASE, NOW + 100)


OPERATIONS: dict[str, Callable[[Store, str, Lease], None]] = {
    "cancel": _cancel,
    "retry": _retry,
    "claim": _claim,
    "claim_one": _claim_one,
    "finish_completed": _finisher(Status.COMPLETED),
    "finish_failed": _finisher(Status.FAILED),
    "finish_cancelled": _finisher(Status.CANCELLED),
    "finish_retry": _finisher(Status.PENDING),
    "release": _release,
    "rescue": _rescue,
    "progress": _progress,
    "heartbeat": _heartbeat,
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("start", list(Status))
def test_every_operation_moves_a_job_only_as_the_state_machine_allows(
    store: Store, start: Status, operation: str
) -> None:
    job_id, lease = bring_to(store, start)
    try:
        OPERATIONS[operation](store, job_id, lease)
    except InvalidTransition:
        assert get(store, job_id).status == start
        return
    end = get(store, job_id).status
    assert end == start or end in TRANSITIONS[start], f"{operation}: {start} -> {end}"
    if operation in ("progress", "heartbeat"):
        assert end == start


@pytest.mark.parametrize("start", list(Status))
def test_cancel_succeeds_exactly_where_the_state_machine_allows_it(
    store: Store, start: Status
) -> None:
    job_id, _ = bring_to(store, start)
    if Status.CANCELLED in TRANSITIONS[start]:
        assert store.job_cancel(job_id, NOW + 1).status == Status.CANCELLED
    else:
        with pytest.raises(InvalidTransition):
            store.job_cancel(job_id, NOW + 1)
