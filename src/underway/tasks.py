"""@app.task and its options (queue, priority, tries, timeout, backoff)."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .job import Job

if TYPE_CHECKING:
    from .app import Underway


@dataclass(frozen=True, slots=True)
class TaskOptions:
    queue: str = "default"
    timeout: float | None = None
    tries: int = 1
    backoff: float = 1.0
    priority: int = 0

    def __post_init__(self) -> None:
        if not self.queue or not isinstance(self.queue, str):
            raise ValueError(f"queue must be a non-empty string, got {self.queue!r}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if not isinstance(self.tries, int) or self.tries < 1:
            raise ValueError(f"tries must be a whole number of at least 1, got {self.tries!r}")
        if self.backoff < 0:
            raise ValueError(f"backoff must be zero or more seconds, got {self.backoff!r}")


def _takes_job(fn: Callable[..., Any]) -> bool:
    params = list(inspect.signature(fn).parameters.values())
    if not params:
        return False
    annotation: object = params[0].annotation
    if isinstance(annotation, str):
        written = annotation
        try:
            annotation = typing.get_type_hints(fn).get(params[0].name, written)
        except Exception:  # an unresolvable forward reference: judge by its name
            return written.rsplit(".", 1)[-1] == "Job"
    return annotation is Job


class Task:
    """A registered function. Calling it runs it here and now; dispatch() queues it."""

    def __init__(
        self, app: Underway, fn: Callable[..., Any], name: str, options: TaskOptions
    ) -> None:
        self.app = app
        self.fn = fn
        self.name = name
        self.options = options
        self.is_async = inspect.iscoroutinefunction(fn)
        self.takes_job = _takes_job(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.takes_job and not (args and isinstance(args[0], Job)):
            args = (Job(), *args)
        return self.fn(*args, **kwargs)

    def dispatch(self, **kwargs: Any) -> str:
        """Queue this task with keyword arguments (JSON values); return the job id."""
        return self.app.dispatch(self, kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.options.queue}>"
