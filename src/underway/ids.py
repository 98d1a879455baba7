"""Job ids: time-ordered, unique, and not guessable.

An id is 26 Crockford base32 characters: 48 bits of milliseconds since the epoch, then 80 random
bits. Within one millisecond a process adds a random step to the previous random part, so ids
from one process stay in dispatch order while a neighbour's id still cannot be guessed.
"""

from __future__ import annotations

import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1

# Two characters for every 10-bit value: an id is 13 lookups instead of 26 divisions.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_SHIFTS = range(120, -1, -10)

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def new_job_id() -> str:
    global _last_ms, _last_random
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _last_random += 1 + secrets.randbits(32)
            if _last_random > _RANDOM_MAX:
                ms += 1
                _last_random = secrets.randbits(_RANDOM_BITS - 1)
        else:
            _last_random = secrets.randbits(_RANDOM_BITS - 1)
        _last_ms = ms
        value = (ms << _RANDOM_BITS) | _last_random
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def is_job_id(text: str) -> bool:
    return len(text) == 26 and all(c in _ALPHABET for c in text)
