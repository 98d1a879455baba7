"""JSON in and out of the store, the pipes and the network. Never pickle."""

from __future__ import annotations

import json
from typing import Any

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    return _encoder.encode(value)


def loads(text: str | bytes | None) -> Any:
    return None if text is None else json.loads(text)


def check_arguments(task: str, kwargs: dict[str, Any]) -> str:
    """Encode a task's keyword arguments, naming the first one that is not plain JSON."""
    if not isinstance(kwargs, dict):
        raise TypeError(f"arguments of task {task!r} must be a dict of keyword arguments")
    try:
        return dumps(kwargs)
    except (TypeError, ValueError):
        pass
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
