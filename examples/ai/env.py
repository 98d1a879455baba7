"""Choosing a provider from environment variables."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from .base import Provider
from .gemini import DEFAULT_GEMINI_BASE_URL, DEFAULT_GEMINI_MODEL, GeminiProvider
from .offline import OfflineProvider
from .openai_compat import DEFAULT_OPENAI_BASE_URL, DEFAULT_OPENAI_MODEL, OpenAIProvider
from .transport import RetryPolicy, Timeouts

ONLINE_VARIABLES = ("GEMINI_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")
LATENCY_VARIABLE = "OFFLINE_LATENCY"


def offline_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether provider_from_env() would answer offline, without opening any client."""
    env = os.environ if environ is None else environ
    return not any(env.get(name, "").strip() for name in ONLINE_VARIABLES)


def offline_latency_from_env(environ: Mapping[str, str] | None = None) -> float:
    """OFFLINE_LATENCY: seconds the offline provider waits per call (unset or blank: 0)."""
    env = os.environ if environ is None else environ
    text = env.get(LATENCY_VARIABLE, "").strip()
    try:
        latency = float(text or "0")
    except ValueError:
        latency = -1.0
    if not (math.isfinite(latency) and latency >= 0):
        raise ValueError(f"{LATENCY_VARIABLE} must be 0 or more seconds, got {text!r}")
    return latency


def provider_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
) -> Provider:
    """Gemini when GEMINI_API_KEY is set, else OpenAI-compatible when OPENAI_API_KEY or
    OPENAI_BASE_URL is set, else offline (waiting OFFLINE_LATENCY seconds per call).
    GEMINI_MODEL, GEMINI_BASE_URL and OPENAI_MODEL override the defaults. Blank values count as
    unset."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    if gemini_key := get("GEMINI_API_KEY"):
        return GeminiProvider(
            gemini_key,
            get("GEMINI_MODEL") or DEFAULT_GEMINI_MODEL,
            base_url=get("GEMINI_BASE_URL") or DEFAULT_GEMINI_BASE_URL,
            timeouts=timeouts,
            retry=retry,
        )
    openai_key, openai_base = get("OPENAI_API_KEY"), get("OPENAI_BASE_URL")
    if openai_key or openai_base:
        return OpenAIProvider(
            openai_key,
            get("OPENAI_MODEL") or DEFAULT_OPENAI_MODEL,
            base_url=openai_base or DEFAULT_OPENAI_BASE_URL,
            timeouts=timeouts,
            retry=retry,
        )
    return OfflineProvider(offline_latency_from_env(env))
