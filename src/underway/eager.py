"""Eager mode: a job runs where it was dispatched, in the dispatching thread (tests, scripts)."""

from __future__ import annotations

import os
import time

from .attempt import run_inline, to_outcome
from .job import Job
from .model import Lease, ProgressWrite, Status
from .settings import DEFAULT_LEASE_SECONDS
from .store import Store
from .tasks import Task


def run_eagerly(store: Store, task: Task, job_id: str) -> None:
    """Run every attempt now, in this thread, writing the status document as a worker would.
    Backoff waits are skipped."""
    worker_id = f"eager-{os.getpid()}"
    while True:
        record = store.job_claim_one(worker_id, job_id, DEFAULT_LEASE_SECONDS, time.time())
        if record is None:
            return

        def save(_job: Job, write: ProgressWrite) -> bool:
            return not store.job_write_progress(worker_id, [write])

        job = Job.resuming(record, save)
        attempt = run_inline(task, job, record.args)
        outcome = to_outcome(
            Lease(record.id, record.attempts),
            attempt,
            max_attempts=record.max_attempts,
            backoff=0.0,
            now=time.time(),
            progress=job.take_progress(force=True),
        )
        store.job_finish(worker_id, [outcome])
        if outcome.status != Status.PENDING:
            return
