"""The provider used when no API key is set: it has no model, so ``complete()`` refuses.

Apps check ``provider.offline`` and call ``offline_fix`` / ``offline_report`` instead.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from .base import DEFAULT_MAX_TOKENS, Completion, ProviderError


class OfflineProvider:
    """No network, no model, no cost."""

    name = "offline"
    model = "none"
    offline = True

    @property
    def label(self) -> str:
        return "offline (no AI model)"

    def complete(
        self, system: str, prompt: str, *, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> Completion:
        raise ProviderError(
            "no AI provider is configured (set GEMINI_API_KEY, OPENAI_API_KEY or "
            "OPENAI_BASE_URL); offline, use offline_fix() or offline_report() instead",
            provider=self.name,
        )

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return "OfflineProvider()"
