"""The provider interface: what every AI provider returns, raises and exposes."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

DEFAULT_MAX_TOKENS = 8192


@dataclass(frozen=True)
class Completion:
    """One model answer with its usage.

    ``cost`` is in USD. ``cost_known`` is False when the model is missing from the price table
    (then ``cost`` is 0.0). ``truncated`` is True when the model stopped at ``max_tokens``: the
    text is incomplete and must not be applied as a code fix.
    """

    text: str
    input_tokens: int
    output_tokens: int
    cost: float
    model: str
    provider: str
    cost_known: bool = True
    truncated: bool = False


class Closing:
    """A context manager that calls close() on the way out."""

    def close(self) -> None:
        """Release what the object holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class TextStream(Closing):
    """One answer as the model writes it: iterating yields its text piece by piece; after the
    last piece ``completion`` holds the whole text with its usage and cost.

        stream = provider.stream_text(system, prompt)
        for piece in stream:
            show(piece)
        answer = stream.completion

    Iterate it once. ``close()`` (or leaving a ``with`` block) gives up an unfinished answer
    and releases its connection.
    """

    def __init__(self, source: Generator[str, None, Completion]) -> None:
        self._source = source
        self._completion: Completion | None = None

    def __iter__(self) -> Iterator[str]:
        self._completion = yield from self._source

    @property
    def completion(self) -> Completion:
        if self._completion is None:
            raise RuntimeError("the answer is not complete: iterate the stream to its end first")
        return self._completion

    def close(self) -> None:
        self._source.close()


class ProviderError(Exception):
    """Any failure of a provider, with a message meant for the person reading the job's error.

    ``status`` is the HTTP status (None for network errors and bad responses), ``server_message``
    the server's own words (API key removed), ``attempts`` how many requests were made.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        server_message: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.server_message = server_message
        self.attempts = attempts

    def __str__(self) -> str:
        return self.message

    # Keyword-only arguments break the default pickling, and the worker may pickle errors.
    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_provider_error,
            (self.message, self.provider, self.status, self.server_message, self.attempts),
        )


def _rebuild_provider_error(
    message: str, provider: str, status: int | None, server_message: str | None, attempts: int
) -> ProviderError:
    return ProviderError(
        message,
        provider=provider,
        status=status,
        server_message=server_message,
        attempts=attempts,
    )


@runtime_checkable
class Provider(Protocol):
    """An AI provider. ``offline`` providers cannot ``complete()``: use the offline functions."""

    name: str
    model: str
    offline: bool

    @property
    def label(self) -> str:
        """Human-readable description for the UI, e.g. ``Gemini (gemini-2.5-flash)``."""
        ...

    def complete(
        self, system: str, prompt: str, *, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> Completion:
        """Ask the model; raises ProviderError on any failure."""
        ...

    def stream_text(
        self, system: str, prompt: str, *, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> TextStream:
        """Ask the model and get its answer as it is written; iterating raises ProviderError
        on any failure, also one in the middle of the answer (then nothing is retried)."""
        ...

    def close(self) -> None:
        """Release network connections."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close."""
        ...
