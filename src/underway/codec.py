"""JSON in and out of the store, the pipes and the network. Never pickle."""

from __future__ import annotations

import json
from typing import Any

# Task arguments nest at most this deep (the arguments object itself is the first level), so
# every reader can decode and re-encode them: HTTP serialisers stop at a few hundred levels.
MAX_DEPTH = 64

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
# Keeps only quotes and brackets, every bracket as "(" or ")", for measuring depth.
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'"[]{}'))


def dumps(value: Any) -> str:
    return _encoder.encode(value)


def loads(text: str | bytes | None) -> Any:
    return None if text is None else json.loads(text)


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when JSON text nests objects and arrays more than limit levels deep.

    Short text, or text with few brackets, cannot be deep: that is most arguments, at the cost
    of a length check or two counts. Otherwise, with C-speed string operations only: escaped
    backslashes and quotes go, then all but quotes and brackets, then what lies inside strings;
    what is left, "(()())", loses its innermost pairs one level per pass."""
    if len(text) <= 2 * limit or text.count("{") + text.count("[") <= limit:
        return False
    if "\\" in text:
        text = text.replace("\\\\", "").replace('\\"', "")
    shape = text.encode("utf-8", "surrogatepass").translate(_BRACKETS, _NOT_STRUCTURE)
    # Strings hold no brackets when every run of quotes pairs up (the common case); otherwise
    # what lies inside them is dropped: the odd parts between quotes.
    unquoted = shape.replace(b'""', b"")
    shape = unquoted if b'"' not in unquoted else b"".join(shape.split(b'"')[::2])
    for _ in range(limit):
        shape = shape.replace(b"()", b"")
        if not shape:
            return False
    return True


def too_deep_error(task: str) -> ValueError:
    return ValueError(
        f"arguments of task {task!r} are nested deeper than {MAX_DEPTH} levels of objects and "
        "arrays; pass flatter data"
    )


def check_arguments(task: str, kwargs: dict[str, Any]) -> str:
    """Encode a task's keyword arguments, naming the first one that is not plain JSON; refuse
    arguments nested deeper than MAX_DEPTH levels."""
    if not isinstance(kwargs, dict):
        raise TypeError(f"arguments of task {task!r} must be a dict of keyword arguments")
    try:
        encoded = dumps(kwargs)
    except RecursionError:
        raise too_deep_error(task) from None
    except (TypeError, ValueError):
        pass
    else:
        if too_deep(encoded):
            raise too_deep_error(task)
        return encoded
    for name, value in kwargs.items():
        if not isinstance(name, str):
            raise TypeError(f"argument names of task {task!r} must be strings, got {name!r}")
        try:
            dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"argument {name!r} of task {task!r} is not JSON-serialisable "
                f"({type(value).__name__}: {exc}); pass ids or plain data instead"
            ) from None
    raise TypeError(f"arguments of task {task!r} are not JSON-serialisable")
