"""Per-model prices and the cost of one request."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("examples.ai")


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_million: float
    output_per_million: float


# List prices (standard tier, prompts up to 200k tokens) at the time of writing; providers change
# them, so check their pricing pages before trusting a bill to this table.
PRICES: dict[str, Price] = {
    "gemini-2.5-pro": Price(1.25, 10.00),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-flash-lite": Price(0.10, 0.40),
    "gemini-2.0-flash": Price(0.10, 0.40),
    "gemini-2.0-flash-lite": Price(0.075, 0.30),
    "gemini-1.5-flash": Price(0.075, 0.30),
    "gemini-1.5-pro": Price(1.25, 5.00),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
}

_warned: set[str] = set()


def price_for(model: str) -> Price | None:
    """The price of ``model``; dated or suffixed names (``gpt-4o-mini-2024-07-18``) match their
    family. None when unknown."""
    name = model.strip().lower().removeprefix("models/")
    best: str | None = None
    for key in PRICES:
        if (name == key or name.startswith(key + "-")) and (best is None or len(key) > len(best)):
            best = key
    return PRICES[best] if best else None


def cost_of(model: str, input_tokens: int, output_tokens: int) -> tuple[float, bool]:
    """(cost in USD, whether the model's price is known). Unknown models cost 0.0."""
    price = price_for(model)
    if price is None:
        if model not in _warned:
            _warned.add(model)
            log.warning("no price known for model %r: its cost is counted as 0", model)
        return 0.0, False
    cost = (
        input_tokens * price.input_per_million + output_tokens * price.output_per_million
    ) / 1_000_000
    return round(cost, 10), True
