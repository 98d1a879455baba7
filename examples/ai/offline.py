"""The provider used when no API key is set: it has no model, so ``complete()`` refuses.

Apps check ``provider.offline`` and call ``offline_fix`` / ``offline_report`` instead, after
``simulate_call()``, or pass the offline text to ``simulate_stream()`` to get it as a model would
stream it: offline work takes milliseconds where a model takes seconds, so a ``latency``
(OFFLINE_LATENCY) lets the demo's progress pages show work as it happens.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Generator

from .base import DEFAULT_MAX_TOKENS, Closing, Completion, ProviderError, TextStream

# A word with the space after it: about what a model streams at a time.
_PIECE = re.compile(r"\s*\S+\s*|\s+")


class OfflineProvider(Closing):
    """No network, no model, no cost; ``latency`` seconds of pretend thinking per call."""

    name = "offline"
    model = "none"
    offline = True

    def __init__(self, latency: float = 0.0) -> None:
        if not (math.isfinite(latency) and latency >= 0):
            raise ValueError(f"the offline latency must be 0 or more seconds, got {latency!r}")
        self.latency = latency

    @property
    def label(self) -> str:
        if self.latency:
            return f"offline (no AI model; simulated {self.latency:g} s per call)"
        return "offline (no AI model)"

    def simulate_call(self) -> None:
        """Wait as long as a model call is set to take (nothing when latency is 0)."""
        if self.latency:
            time.sleep(self.latency)

    def simulate_stream(self, text: str) -> TextStream:
        """``text`` word by word, as a model streams its answer, the latency of one call spread
        over the pieces; its completion costs nothing."""
        return TextStream(self._pieces(text))

    def _pieces(self, text: str) -> Generator[str, None, Completion]:
        pieces = _PIECE.findall(text)
        started = time.monotonic()
        for number, piece in enumerate(pieces, start=1):
            # Against the clock, not per piece: the whole stream takes the latency, no more.
            wait = started + self.latency * number / len(pieces) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            yield piece
        return Completion(text, 0, 0, 0.0, self.model, self.name)

    def complete(
        self, system: str, prompt: str, *, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> Completion:
        raise self._no_model()

    def stream_text(
        self, system: str, prompt: str, *, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> TextStream:
        raise self._no_model()

    def _no_model(self) -> ProviderError:
        return ProviderError(
            "no AI provider is configured (set GEMINI_API_KEY, OPENAI_API_KEY or "
            "OPENAI_BASE_URL); offline, use offline_fix() or offline_report() instead",
            provider=self.name,
        )

    def __repr__(self) -> str:
        return f"OfflineProvider(latency={self.latency!r})" if self.latency else "OfflineProvider()"
