"""What dispatch accepts: bounds every backend can store and read back, checked once per call.

Text that names things (task, queue, owner, unique key) must be storable as text everywhere:
valid Unicode without lone surrogates, and no NUL character, which PostgreSQL refuses. A delay
must be finite and within MAX_DELAY_SECONDS; a priority fits PostgreSQL's integer column. The
arguments' own limits (plain JSON, at most codec.MAX_DEPTH levels) are checked by codec.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

MAX_DELAY_SECONDS = 10 * 365 * 24 * 3600.0  # ten years
MIN_PRIORITY = -(2**31)
MAX_PRIORITY = 2**31 - 1


def shown(value: Any) -> str:
    """A value for an error message: huge numbers and long text cut short."""
    if isinstance(value, int) and abs(value) >= 10**30:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def text_problem(value: str) -> str | None:
    """Why value cannot be stored as text on every backend, or None when it can."""
    if "\0" in value:
        return "must not contain NUL characters (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (no lone surrogates)"
    return None


def check_text(field: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a string, got {type(value).__name__}")
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"{field} {problem}, got {shown(value)}")


def checked_priority(priority: Any) -> int:
    # operator.index takes any integer type (NumPy's too) and refuses floats and text.
    try:
        number = operator.index(priority)
    except TypeError:
        number = None
    if number is None or isinstance(priority, bool):
        raise TypeError(f"priority must be an integer, got {type(priority).__name__}")
    if not MIN_PRIORITY <= number <= MAX_PRIORITY:
        raise ValueError(
            f"priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}, got {shown(number)}"
        )
    return number


def checked_delay(delay: Any) -> float:
    """Seconds to wait as a float: 0 for None."""
    if delay is None:
        return 0.0
    if not isinstance(delay, numbers.Real) or isinstance(delay, bool):
        raise TypeError(f"delay must be a number of seconds, got {type(delay).__name__}")
    try:
        seconds = float(delay)
    except OverflowError:  # an int past float's range
        seconds = math.inf
    if not 0 <= seconds <= MAX_DELAY_SECONDS:  # NaN fails both comparisons
        raise ValueError(
            f"delay must be between 0 and {MAX_DELAY_SECONDS:.0f} seconds (ten years), "
            f"got {shown(delay)}"
        )
    return seconds


def check_dispatch(task: str, queue: str, owner: str | None, unique_key: str | None) -> None:
    """Refuse names no backend can store, naming the field."""
    check_text("task", task)
    check_text("queue", queue)
    check_text("owner", owner)
    check_text("unique_key", unique_key)
