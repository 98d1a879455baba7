"""Job ids: time-ordered, unique, and not guessable.

An id is 26 Crockford base32 characters: 48 bits of milliseconds since the epoch, then 80 random
bits. Within one millisecond a process adds a random step to the previous random part, so ids
from one process stay in dispatch order while a neighbour's id still cannot be guessed.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1
_STEP_BYTES = 4
# A fresh random part has 79 bits (10 bytes less one bit): room for steps within its millisecond.
_RANDOM_BYTES = 10

# Two characters for every 10-bit value: 48 bits of time (with two leading zero bits) are the
# first 10 characters, the 80 random bits the other 16.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]

_lock = threading.Lock()
_last_ms = -1
_last_random = 0
_time_part = ""
# One getrandom() call per 4 KiB of ids' randomness instead of one per id.
_entropy = b""
_entropy_used = 0


def _discard_state_in_child() -> None:
    # A forked child must not replay its parent's unused random bytes (the two would make the
    # same ids within one millisecond), nor wait for a lock a parent's thread held at the fork.
    global _lock, _entropy, _entropy_used
    _lock = threading.Lock()
    _entropy, _entropy_used = b"", 0


# Windows has no fork, and so no register_at_fork: nothing there can copy this state.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_discard_state_in_child)


def _random_int(nbytes: int) -> int:
    global _entropy, _entropy_used
    start = _entropy_used
    if start + nbytes > len(_entropy):
        _entropy, start = os.urandom(4096), 0
    _entropy_used = start + nbytes
    return int.from_bytes(_entropy[start : start + nbytes])


def _time_chars(ms: int) -> str:
    pairs = _PAIRS
    return (
        pairs[ms >> 40]
        + pairs[(ms >> 30) & 1023]
        + pairs[(ms >> 20) & 1023]
        + pairs[(ms >> 10) & 1023]
        + pairs[ms & 1023]
    )


def new_job_id() -> str:
    global _last_ms, _last_random, _time_part
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _time_part = ms, _time_chars(ms)
            _last_random = _random_int(_RANDOM_BYTES) >> 1
        else:
            _last_random += 1 + _random_int(_STEP_BYTES)
            if _last_random > _RANDOM_MAX:
                _last_ms += 1
                _time_part = _time_chars(_last_ms)
                _last_random = _random_int(_RANDOM_BYTES) >> 1
        time_part, value = _time_part, _last_random
    pairs = _PAIRS
    return (
        time_part
        + pairs[value >> 70]
        + pairs[(value >> 60) & 1023]
        + pairs[(value >> 50) & 1023]
        + pairs[(value >> 40) & 1023]
        + pairs[(value >> 30) & 1023]
        + pairs[(value >> 20) & 1023]
        + pairs[(value >> 10) & 1023]
        + pairs[value & 1023]
    )


def is_job_id(text: str) -> bool:
    return len(text) == 26 and all(c in _ALPHABET for c in text)
