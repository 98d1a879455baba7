"""What the store tests share: a fixed clock and a job that does not exist yet."""

from __future__ import annotations

from typing import Any

from underway.ids import new_job_id
from underway.model import NewJob

# Far from the wall clock, and exact in binary, so every backend stores it without rounding.
NOW = 1_800_000_000.0


def new_job(**fields: Any) -> NewJob:
    defaults: dict[str, Any] = {
        "id": new_job_id(),
        "task": "tests.work",
        "queue": "default",
        "args": {},
        "priority": 0,
        "max_attempts": 1,
        "timeout": None,
        "backoff": 1.0,
        "created_at": NOW,
        "available_at": NOW,
    }
    return NewJob(**{**defaults, **fields})
