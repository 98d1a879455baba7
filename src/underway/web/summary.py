"""Figures for /api/stats, /metrics and the overview page, computed from the store's reads.

The store counts jobs per queue and status and the last minute's throughput exactly. Figures it
has no query for (throughput per minute over the last minutes, durations, an owner's counts) come
from a sample of the newest jobs, which is exact until a status holds more than SAMPLE jobs.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Any

from ..app import Underway
from ..model import JobRecord, Status, iso, percent, status_document
from .auth import Principal

SAMPLE = 1000
THROUGHPUT_MINUTES = 10
RUNNING_SHOWN = 500
FAILURES_SHOWN = 10


def finished_sample(app: Underway, owner: str | None = None) -> list[JobRecord]:
    """The newest completed and failed jobs, up to SAMPLE of each."""
    return [
        record
        for status in (Status.COMPLETED, Status.FAILED)
        for record in app.store.job_list(status=status, owner=owner, limit=SAMPLE).jobs
    ]


def throughput(records: list[JobRecord], now: float) -> list[dict[str, Any]]:
    """Completed and failed jobs per minute over the last THROUGHPUT_MINUTES, oldest first."""
    start = (math.floor(now / 60) - THROUGHPUT_MINUTES + 1) * 60
    counts = [{"completed": 0, "failed": 0} for _ in range(THROUGHPUT_MINUTES)]
    for record in records:
        if record.completed_at is None or record.completed_at < start:
            continue
        index = int((record.completed_at - start) // 60)
        if index < THROUGHPUT_MINUTES:
            counts[index][record.status.value] += 1
    return [{"minute": iso(start + 60 * i), **c} for i, c in enumerate(counts)]


def durations(records: list[JobRecord]) -> dict[str, list[float]]:
    """Seconds from the last start to the end of completed jobs, per task."""
    per_task: dict[str, list[float]] = {}
    for record in records:
        if record.status == Status.COMPLETED and record.started_at and record.completed_at:
            per_task.setdefault(record.task, []).append(record.completed_at - record.started_at)
    return per_task


def server_stats(app: Underway) -> dict[str, Any]:
    """Everything /api/stats answers: exact counts plus sampled throughput."""
    stats = app.stats()
    stats["throughput"] = throughput(finished_sample(app), time.time())
    stats["workers_alive"] = len(stats["workers"])
    return stats


def owner_counts(app: Underway, owner: str) -> dict[str, dict[str, int]]:
    """Counts per queue and status among the owner's newest SAMPLE jobs."""
    counts: dict[str, dict[str, int]] = {}
    for record in app.store.job_list(owner=owner, limit=SAMPLE).jobs:
        per_queue = counts.setdefault(record.queue, {})
        per_queue[record.status.value] = per_queue.get(record.status.value, 0) + 1
    return counts


def workers_with_jobs(app: Underway, principal: Principal) -> list[dict[str, Any]]:
    """Workers alive, each with the jobs it runs that the principal may see."""
    running: dict[str, list[dict[str, Any]]] = {}
    for record in app.store.job_list(status=Status.PROCESSING, limit=RUNNING_SHOWN).jobs:
        if principal.may_see(record.owner) and record.worker_id:
            running.setdefault(record.worker_id, []).append(
                {"job_id": record.id, "task": record.task, "percent": percent(record)}
            )
    workers = []
    for info in app.store.worker_list(time.time()):
        worker = asdict(info)
        worker["jobs"] = running.get(info.id, [])
        workers.append(worker)
    return workers


def overview(app: Underway, principal: Principal) -> dict[str, Any]:
    """The overview page's figures; an owner who is not admin sees only its own jobs."""
    owner = None if principal.is_admin else principal.owner
    now = time.time()
    sample = finished_sample(app, owner)
    minutes = throughput(sample, now)
    if owner is None:
        stats = app.stats()
        queues, last_completed = stats["queues"], stats["completed_last_minute"]
        last_failed = stats["failed_last_minute"]
    else:
        queues = owner_counts(app, owner)
        last = [r for r in sample if r.completed_at and r.completed_at >= now - 60]
        last_completed = sum(r.status == Status.COMPLETED for r in last)
        last_failed = len(last) - last_completed
    failures = app.store.job_list(status=Status.FAILED, owner=owner, limit=FAILURES_SHOWN).jobs
    return {
        "queues": dict(sorted(queues.items())),
        "completed_last_minute": last_completed,
        "failed_last_minute": last_failed,
        "throughput": minutes,
        "busiest_minute": max([m["completed"] + m["failed"] for m in minutes] + [1]),
        "workers": workers_with_jobs(app, principal),
        "failures": [status_document(record) for record in failures],
        "scope": "all" if owner is None else "yours",
    }
