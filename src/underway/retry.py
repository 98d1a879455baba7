"""Backoff with jitter: pure functions."""

from __future__ import annotations

import random

from .settings import BACKOFF_CAP_SECONDS


def backoff_delay(backoff: float, attempt: int, rand: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry): about
    backoff * 2**(attempt-1), capped, with +/-25 % jitter so that failed jobs do not return in a
    herd."""
    base = min(BACKOFF_CAP_SECONDS, backoff * 2 ** max(0, attempt - 1))
    jitter = random.random() if rand is None else rand
    return base * (0.75 + 0.5 * jitter)
