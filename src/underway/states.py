"""Allowed transitions, and which component moves a job out of each state.

pending    -> processing   claimed by a worker (job_claim)
pending    -> cancelled    app.cancel
processing -> completed    the worker, when the task returns
processing -> pending      the worker, on an error with tries left (after backoff); the worker
                           on shutdown or a sibling's crash (attempt not charged); any worker
                           when the lease has run out (lease_rescue)
processing -> failed       the worker, on an error or time-out with no tries left; lease_rescue
processing -> cancelled    app.cancel (the worker sees its lease gone and stops the task)
failed | cancelled -> pending   app.retry, with a fresh allowance of tries
"""

from __future__ import annotations

from .model import Status
from .retry import backoff_delay

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.PROCESSING, Status.CANCELLED}),
    Status.PROCESSING: frozenset(
        {Status.COMPLETED, Status.PENDING, Status.FAILED, Status.CANCELLED}
    ),
    Status.COMPLETED: frozenset(),
    Status.FAILED: frozenset({Status.PENDING}),
    Status.CANCELLED: frozenset({Status.PENDING}),
}


def after_error(
    attempt: int, max_attempts: int, backoff: float, now: float, retryable: bool = True
) -> tuple[Status, float | None]:
    """What an attempt that raised becomes: pending again at a later time, or failed."""
    if retryable and attempt < max_attempts:
        return Status.PENDING, now + backoff_delay(backoff, attempt)
    return Status.FAILED, None
