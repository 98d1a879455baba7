"""AI providers shared by the example apps (Fix All, report generation).

    with provider_from_env() as ai:
        if ai.offline:
            ai.simulate_call()                           # OFFLINE_LATENCY seconds, default 0
            outcome = offline_fix(path, "F401")          # or offline_report(entries)
        else:
            answer = ai.complete(system, prompt)         # -> Completion (text, tokens, cost)

    stream = ai.stream_text(system, prompt)              # or ai.simulate_stream(text) offline
    for piece in stream:                                 # the answer as it is written
        show(piece)
    answer = stream.completion

Every failure is a ProviderError with a message meant for the user; API keys never appear in
errors, logs or reprs.
"""

from .base import DEFAULT_MAX_TOKENS, Completion, Provider, ProviderError, TextStream
from .env import offline_from_env, offline_latency_from_env, provider_from_env
from .gemini import DEFAULT_GEMINI_MODEL, GeminiProvider
from .offline import OfflineProvider
from .offline_report import OFFLINE_NOTE, offline_report, report_period
from .openai_compat import DEFAULT_OPENAI_MODEL, OpenAIProvider
from .pricing import PRICES, Price, cost_of, price_for
from .ruff_fix import FixOutcome, offline_fix
from .transport import RetryPolicy, Timeouts

__all__ = [
    "DEFAULT_GEMINI_MODEL",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_OPENAI_MODEL",
    "OFFLINE_NOTE",
    "PRICES",
    "Completion",
    "FixOutcome",
    "GeminiProvider",
    "OfflineProvider",
    "OpenAIProvider",
    "Price",
    "Provider",
    "ProviderError",
    "RetryPolicy",
    "TextStream",
    "Timeouts",
    "cost_of",
    "offline_fix",
    "offline_from_env",
    "offline_latency_from_env",
    "offline_report",
    "price_for",
    "provider_from_env",
    "report_period",
]
