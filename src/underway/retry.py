"""Backoff with jitter: pure functions."""

from __future__ import annotations

import random

from .settings import BACKOFF_CAP_SECONDS


def backoff_delay(backoff: float, attempt: int, rand: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry): about
    backoff * 2**(attempt-1), capped, with +/-25 % jitter so that failed jobs do not return in a
    herd."""
    # The exponent is bounded first: 2.0 ** 1100 overflows a float.
    doublings = min(max(0, attempt - 1), 64)
    base = min(BACKOFF_CAP_SECONDS, backoff * 2.0**doublings)
    jitter = random.random() if rand is None else rand
    return base * (0.75 + 0.5 * jitter)
