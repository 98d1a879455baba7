"""The example apps' AI providers.

The HTTP clients run against a real HTTP server on 127.0.0.1 (wire_server.py, the `api` fixture)
that speaks the Gemini and OpenAI wire formats and records what it received; nothing here
reaches the internet.
The offline functions run the real ruff on real files.
"""

from __future__ import annotations

import logging
import pickle
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from wire_server import FakeAPI, Reply

# examples/ is not an installed package: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.ai import (
    PRICES,
    GeminiProvider,
    OfflineProvider,
    OpenAIProvider,
    Provider,
    ProviderError,
    RetryPolicy,
    Timeouts,
    cost_of,
    offline_fix,
    offline_report,
    price_for,
    provider_from_env,
    report_period,
)

GEMINI_KEY = "AIzaSy-test-gemini-key-0123456789"
OPENAI_KEY = "sk-test-openai-key-0123456789abcdef"
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=5.0)
TIMEOUTS = Timeouts(connect=2.0, read=5.0, write=2.0, pool=2.0)


# --- the two wire formats --------------------------------------------------------------------


def gemini_ok(text: str = "All good.", prompt: int = 1000, output: int = 200) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1",
    }


def gemini_error(code: int, message: str, status: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def openai_ok(text: str = "All good.", prompt: int = 1000, output: int = 200) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": prompt + output,
        },
    }


def openai_error(code: int, message: str, status: str) -> dict[str, Any]:
    kind = "invalid_request_error" if code < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": status.lower()}}


@dataclass(frozen=True)
class Flavour:
    name: str
    key: str
    key_env: str
    make: Callable[..., GeminiProvider | OpenAIProvider]
    ok: Callable[..., dict[str, Any]]
    error: Callable[[int, str, str], dict[str, Any]]


def make_gemini(api: FakeAPI, **kwargs: Any) -> GeminiProvider:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("timeouts", TIMEOUTS)
    return GeminiProvider(GEMINI_KEY, "gemini-2.5-flash", base_url=api.url, **kwargs)


def make_openai(api: FakeAPI, **kwargs: Any) -> OpenAIProvider:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("timeouts", TIMEOUTS)
    return OpenAIProvider(OPENAI_KEY, "gpt-4o-mini", base_url=f"{api.url}/v1", **kwargs)


FLAVOURS = [
    Flavour("gemini", GEMINI_KEY, "GEMINI_API_KEY", make_gemini, gemini_ok, gemini_error),
    Flavour("openai", OPENAI_KEY, "OPENAI_API_KEY", make_openai, openai_ok, openai_error),
]


@pytest.fixture(params=FLAVOURS, ids=lambda f: f.name)
def flavour(request: pytest.FixtureRequest) -> Flavour:
    return request.param


# --- requests and responses ------------------------------------------------------------------


def test_gemini_sends_the_real_request_and_reads_text_usage_and_cost(api: FakeAPI) -> None:
    body = gemini_ok()
    body["candidates"][0]["content"]["parts"] = [
        {"text": "Let me think about this.", "thought": True},
        {"text": "# Weekly "},
        {"text": "Progress Report"},
    ]
    body["usageMetadata"]["thoughtsTokenCount"] = 100
    api.reply(Reply(body=body))

    with make_gemini(api) as gemini:
        answer = gemini.complete("You write reports.", "Summarise my week.", max_tokens=512)

    [request] = api.received
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == GEMINI_KEY
    assert "authorization" not in request.headers
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "contents": [{"role": "user", "parts": [{"text": "Summarise my week."}]}],
        "generationConfig": {"maxOutputTokens": 512},
        "systemInstruction": {"parts": [{"text": "You write reports."}]},
    }
    assert answer.text == "# Weekly Progress Report"
    assert (answer.input_tokens, answer.output_tokens) == (1000, 300)  # thinking billed as output
    assert answer.cost == pytest.approx((1000 * 0.30 + 300 * 2.50) / 1_000_000)
    assert answer.cost_known and not answer.truncated
    assert (answer.model, answer.provider) == ("gemini-2.5-flash", "gemini")


def test_openai_sends_the_real_request_and_reads_text_usage_and_cost(api: FakeAPI) -> None:
    api.reply(Reply(body=openai_ok("Fixed file", prompt=1000, output=200)))

    with make_openai(api) as openai:
        answer = openai.complete("You fix code.", "Fix F401.", max_tokens=512)

    [request] = api.received
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You fix code."},
            {"role": "user", "content": "Fix F401."},
        ],
        "max_tokens": 512,
    }
    assert answer.text == "Fixed file"
    assert (answer.input_tokens, answer.output_tokens) == (1000, 200)
    assert answer.cost == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1_000_000)
    assert (answer.model, answer.provider) == ("gpt-4o-mini-2024-07-18", "openai")


def test_local_openai_compatible_server_needs_no_key_and_unknown_models_cost_nothing(
    api: FakeAPI,
) -> None:
    body = openai_ok("Hi from a local model")
    del body["usage"]  # several local servers leave usage out
    body["model"] = "llama3.2"
    api.reply(Reply(body=body))

    with OpenAIProvider(None, "llama3.2", base_url=f"{api.url}/v1", retry=FAST) as local:
        assert api.url in local.label
        answer = local.complete("", "Hello")

    [request] = api.received
    assert "authorization" not in request.headers
    assert request.body["messages"] == [{"role": "user", "content": "Hello"}]
    assert answer.text == "Hi from a local model"
    assert (answer.input_tokens, answer.output_tokens, answer.cost) == (0, 0, 0.0)
    assert not answer.cost_known


def test_openai_without_a_key_is_refused_for_api_openai_com() -> None:
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAIProvider(None)


def test_openai_switches_to_max_completion_tokens_when_the_model_asks(api: FakeAPI) -> None:
    refusal = {
        "error": {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_parameter",
        }
    }
    api.reply(Reply(400, refusal), Reply(body=openai_ok("one")), Reply(body=openai_ok("two")))

    with make_openai(api) as openai:
        assert openai.complete("s", "p", max_tokens=64).text == "one"
        assert openai.complete("s", "p", max_tokens=64).text == "two"

    first, second, third = (r.body for r in api.received)
    assert first["max_tokens"] == 64 and "max_completion_tokens" not in first
    assert second["max_completion_tokens"] == 64 and "max_tokens" not in second
    assert third["max_completion_tokens"] == 64 and "max_tokens" not in third


def test_gemini_truncated_blocked_and_empty_answers(api: FakeAPI) -> None:
    truncated = gemini_ok("def f(")
    truncated["candidates"][0]["finishReason"] = "MAX_TOKENS"
    only_thoughts = gemini_ok()
    only_thoughts["candidates"][0] = {"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {}}
    api.reply(Reply(body=truncated), Reply(body=only_thoughts), Reply(body=blocked))

    with make_gemini(api) as gemini:
        assert gemini.complete("s", "p", max_tokens=50).truncated
        with pytest.raises(ProviderError, match="all 50 output tokens"):
            gemini.complete("s", "p", max_tokens=50)
        with pytest.raises(ProviderError, match=r"blocked the prompt .*SAFETY"):
            gemini.complete("s", "p")


# --- retries ---------------------------------------------------------------------------------


def test_429_then_success_is_retried_after_retry_after(api: FakeAPI, flavour: Flavour) -> None:
    busy = flavour.error(429, "Resource has been exhausted (e.g. check quota).", "RATE_LIMIT")
    api.reply(Reply(429, busy, headers={"Retry-After": "1"}), Reply(body=flavour.ok("done")))

    started = time.monotonic()
    with flavour.make(api) as provider:
        answer = provider.complete("s", "p")
    waited = time.monotonic() - started

    assert answer.text == "done"
    assert len(api.received) == 2
    assert api.received[0].body == api.received[1].body
    assert waited >= 0.95  # the backoff alone would be about 0.01 s


def test_gemini_honours_retry_delay_in_the_error_details(api: FakeAPI) -> None:
    busy = gemini_error(429, "Quota exceeded.", "RESOURCE_EXHAUSTED")
    busy["error"]["details"] = [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.3s"}
    ]
    api.reply(Reply(429, busy), Reply(body=gemini_ok()))

    started = time.monotonic()
    with make_gemini(api) as gemini:
        gemini.complete("s", "p")
    assert time.monotonic() - started >= 0.28
    assert len(api.received) == 2


def test_500_then_success_is_retried(api: FakeAPI, flavour: Flavour) -> None:
    api.reply(
        Reply(500, flavour.error(500, "An internal error has occurred.", "INTERNAL")),
        Reply(body=flavour.ok("recovered")),
    )
    with flavour.make(api) as provider:
        assert provider.complete("s", "p").text == "recovered"
    assert len(api.received) == 2


def test_persistent_503_fails_clearly_after_the_bounded_attempts(
    api: FakeAPI, flavour: Flavour
) -> None:
    overloaded = flavour.error(
        503, "The model is overloaded. Please try again later.", "UNAVAILABLE"
    )
    api.reply(*[Reply(503, overloaded) for _ in range(5)])

    with flavour.make(api) as provider, pytest.raises(ProviderError) as caught:
        provider.complete("s", "p")

    error = caught.value
    assert len(api.received) == 3
    assert (error.status, error.attempts, error.provider) == (503, 3, flavour.name)
    assert "server error (HTTP 503) after 3 attempts" in str(error)
    assert "The model is overloaded" in str(error)
    assert error.__cause__ is None and error.__context__ is None


def test_retry_after_beyond_the_limit_fails_at_once(api: FakeAPI, flavour: Flavour) -> None:
    busy = flavour.error(429, "Slow down.", "RATE_LIMIT")
    api.reply(Reply(429, busy, headers={"Retry-After": "120"}), Reply(body=flavour.ok()))

    started = time.monotonic()
    with flavour.make(api) as provider, pytest.raises(ProviderError, match="wait 120 s"):
        provider.complete("s", "p")
    assert time.monotonic() - started < 2
    assert len(api.received) == 1


# --- errors ----------------------------------------------------------------------------------


def test_401_names_the_key_setting_without_revealing_the_key(
    api: FakeAPI, flavour: Flavour, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Servers echo the key back (OpenAI: "Incorrect API key provided: sk-...").
    echoed = f"Incorrect API key provided: {flavour.key}. API key not valid."
    api.reply(Reply(401, flavour.error(401, echoed, "UNAUTHENTICATED")))

    with flavour.make(api) as provider:
        assert flavour.key not in repr(provider)
        with pytest.raises(ProviderError) as caught:
            provider.complete("s", "p")

    error = caught.value
    assert error.status == 401
    assert flavour.key_env in str(error) and "wrong" in str(error)
    for text in (str(error), repr(error), error.server_message or "", caplog.text):
        assert flavour.key not in text
    assert flavour.key not in pickle.dumps(error).decode("latin-1")
    assert len(api.received) == 1  # a wrong key is not retried


def test_gemini_bad_key_answered_with_400_is_reported_as_a_key_problem(api: FakeAPI) -> None:
    # The real Gemini API answers a wrong key with 400 INVALID_ARGUMENT, not 401.
    body = gemini_error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT")
    body["error"]["details"] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
        }
    ]
    api.reply(Reply(400, body))

    with make_gemini(api) as gemini, pytest.raises(ProviderError) as caught:
        gemini.complete("s", "p")

    assert caught.value.status == 400
    assert "GEMINI_API_KEY is wrong" in str(caught.value)
    assert GEMINI_KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (400, "Invalid JSON payload received. Unknown name 'foo'.", "Unknown name 'foo'"),
        (404, "models/gemini-2.5-flash is not found for API version v1beta.", "does not know"),
        (403, "Permission denied on resource project.", "wrong, expired or lacks access"),
    ],
)
def test_client_errors_are_explained_and_not_retried(
    api: FakeAPI, flavour: Flavour, status: int, message: str, expected: str
) -> None:
    api.reply(Reply(status, flavour.error(status, message, "INVALID_ARGUMENT")))

    with flavour.make(api) as provider, pytest.raises(ProviderError) as caught:
        provider.complete("s", "p")

    text = str(caught.value)
    assert caught.value.status == status
    assert expected in text
    assert message.split(".")[0] in text  # the server's own words are kept
    if status == 404:
        assert provider.model in text and ("GEMINI_MODEL" in text or "OPENAI_MODEL" in text)
    assert len(api.received) == 1


def test_read_time_out_gives_a_clear_error(api: FakeAPI, flavour: Flavour) -> None:
    api.reply(Reply(body=flavour.ok(), delay=0.5), Reply(body=flavour.ok(), delay=0.5))
    slow = Timeouts(connect=2.0, read=0.2)
    retry = RetryPolicy(max_attempts=2, base_delay=0.01)

    provider = flavour.make(api, timeouts=slow, retry=retry)
    with provider, pytest.raises(ProviderError) as caught:
        provider.complete("s", "p")

    error = caught.value
    assert "did not answer within 0.2 s (read time-out) after 2 attempts" in str(error)
    assert (error.status, error.attempts) == (None, 2)
    assert error.__context__ is None


def test_malformed_json_gives_a_clear_error(api: FakeAPI, flavour: Flavour) -> None:
    api.reply(Reply(200, '{"candidates": [ <html>Bad Gateway'))

    with flavour.make(api) as provider, pytest.raises(ProviderError) as caught:
        provider.complete("s", "p")

    assert "not valid JSON" in str(caught.value)
    assert "Bad Gateway" in str(caught.value)
    assert caught.value.status == 200
    assert caught.value.__context__ is None


def test_unreachable_server_gives_a_clear_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    retry = RetryPolicy(max_attempts=2, base_delay=0.01)
    gemini = GeminiProvider(GEMINI_KEY, base_url=f"http://127.0.0.1:{port}", retry=retry)
    with gemini, pytest.raises(ProviderError, match="could not connect to Gemini") as caught:
        gemini.complete("s", "p")
    assert caught.value.attempts == 2


def test_provider_error_survives_pickling() -> None:
    error = ProviderError("boom", provider="gemini", status=503, server_message="x", attempts=3)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.provider, copy.status, copy.server_message, copy.attempts) == (
        "boom",
        "gemini",
        503,
        "x",
        3,
    )


# --- prices and choosing a provider ----------------------------------------------------------


def test_prices_match_model_families_and_unknown_models_cost_nothing() -> None:
    assert price_for("gpt-4o-mini-2024-07-18") == PRICES["gpt-4o-mini"]
    assert price_for("gpt-4o") == PRICES["gpt-4o"]
    assert price_for("models/gemini-2.5-flash-lite") == PRICES["gemini-2.5-flash-lite"]
    assert price_for("gpt-4omni") is None
    assert cost_of("gemini-2.5-flash", 1_000_000, 1_000_000) == (2.80, True)
    assert cost_of("llama3.2", 5000, 5000) == (0.0, False)


def test_provider_from_env_prefers_gemini_then_openai_then_offline() -> None:
    both = {"GEMINI_API_KEY": GEMINI_KEY, "OPENAI_API_KEY": OPENAI_KEY, "GEMINI_MODEL": "x-1"}
    with provider_from_env(both) as gemini:
        assert isinstance(gemini, GeminiProvider) and isinstance(gemini, Provider)
        assert gemini.model == "x-1" and not gemini.offline
        assert GEMINI_KEY not in repr(gemini)

    with provider_from_env({"GEMINI_API_KEY": " ", "OPENAI_API_KEY": OPENAI_KEY}) as openai:
        assert isinstance(openai, OpenAIProvider) and openai.model == "gpt-4o-mini"

    local_env = {"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1", "OPENAI_MODEL": "llama3.2"}
    with provider_from_env(local_env) as local:
        assert isinstance(local, OpenAIProvider)
        assert (local.model, local.base_url) == ("llama3.2", "http://127.0.0.1:11434/v1")

    offline = provider_from_env({"OPENAI_API_KEY": ""})
    assert isinstance(offline, OfflineProvider) and isinstance(offline, Provider)
    assert (offline.name, offline.offline) == ("offline", True)
    assert "offline" in offline.label


def test_offline_latency_comes_from_offline_latency_and_is_waited_per_call() -> None:
    slow = provider_from_env({"OFFLINE_LATENCY": " 0.2 "})
    assert isinstance(slow, OfflineProvider) and slow.latency == 0.2
    assert slow.label == "offline (no AI model; simulated 0.2 s per call)"
    started = time.monotonic()
    slow.simulate_call()
    assert time.monotonic() - started >= 0.19
    for unset in ({}, {"OFFLINE_LATENCY": ""}, {"OFFLINE_LATENCY": "0"}):
        fast = provider_from_env(unset)
        assert isinstance(fast, OfflineProvider) and fast.latency == 0
        assert fast.label == "offline (no AI model)"
    for bad in ("fast", "-1", "nan", "inf"):
        with pytest.raises(ValueError, match="OFFLINE_LATENCY must be 0 or more seconds"):
            provider_from_env({"OFFLINE_LATENCY": bad})
    # A key still wins: the latency only slows the offline provider down.
    with provider_from_env({"OFFLINE_LATENCY": "5", "GEMINI_API_KEY": GEMINI_KEY}) as gemini:
        assert isinstance(gemini, GeminiProvider)


def test_offline_provider_refuses_complete_and_says_what_to_do() -> None:
    with pytest.raises(ProviderError, match="offline_fix"):
        OfflineProvider().complete("s", "p")


# --- offline fixes ---------------------------------------------------------------------------


def test_offline_fix_removes_an_unused_import_then_has_nothing_to_fix(tmp_path: Path) -> None:
    source = tmp_path / "tool.py"
    source.write_text("import os\nimport sys\n\nprint(sys.argv)\n")

    first = offline_fix(source, "F401")
    assert (first.changed, first.fixed, first.remaining) == (True, 1, 0)
    assert source.read_text() == "import sys\n\nprint(sys.argv)\n"
    assert "Fixed 1 F401" in first.message

    second = offline_fix(source, "F401")
    assert (second.changed, second.fixed, second.remaining) == (False, 0, 0)
    assert "nothing to fix" in second.message


def test_offline_fix_leaves_an_issue_without_automatic_fix(tmp_path: Path) -> None:
    source = tmp_path / "long.py"
    text = f'NAME = "{"x" * 120}"\n'
    source.write_text(text)

    outcome = offline_fix(source, "e501")
    assert (outcome.rule, outcome.changed, outcome.remaining) == ("E501", False, 1)
    assert "no automatic fix" in outcome.message
    assert source.read_text() == text


def test_offline_fix_rejects_bad_input(tmp_path: Path) -> None:
    source = tmp_path / "ok.py"
    source.write_text("x = 1\n")
    with pytest.raises(ValueError, match="rule code"):
        offline_fix(source, "--unsafe-fixes")
    with pytest.raises(FileNotFoundError):
        offline_fix(tmp_path / "missing.py", "F401")
    with pytest.raises(ProviderError, match="ZZZ999"):
        offline_fix(source, "ZZZ999")


# --- offline reports -------------------------------------------------------------------------


@dataclass
class JournalEntry:
    id: int
    date: date
    title: str
    text: str
    mood: str | None = None


def week_of_entries() -> list[Any]:
    return [
        {
            "id": 1,
            "date": "2026-02-01",
            "title": "Planning the migration",
            "text": "Planned the billing migration. The queue needs work too.",
            "mood": "focused",
            "tags": ["billing", "planning"],
        },
        JournalEntry(2, date(2026, 2, 2), "Queue metrics", "Measured the queue: slow claims."),
        {
            "id": 3,
            "date": datetime(2026, 2, 3, 18, 30),
            "title": "# not a heading",
            "text": "Billing tests failed twice.\n\n# Also not a heading\nFixed them.",
            "mood": "tired",
        },
        {"id": 4, "date": "2026-02-04", "title": "Pairing", "text": "Paired on the queue."},
        {"id": 5, "date": "2026-02-05", "title": "Migration dry run", "text": "Billing ran."},
        {"id": 6, "date": "2026-02-06", "title": "Docs", "text": "Wrote the migration guide."},
        {
            "id": 7,
            "date": "2026-02-07T09:00:00Z",
            "title": "Retro",
            "text": "The queue is fast now! Billing migration done.",
            "mood": "focused",
        },
    ]


def test_offline_report_has_period_themes_days_and_the_offline_note() -> None:
    report = offline_report(week_of_entries())
    lines = report.splitlines()

    assert lines[0] == "# Weekly Progress Report"
    assert "**Period:** Feb 01, 2026 to Feb 07, 2026" in lines
    assert "## Recurring Themes" in lines and "## Daily Highlights" in lines
    themes = report.split("## Recurring Themes")[1].split("## Daily Highlights")[0]
    assert themes.strip().splitlines() == [
        "- **migration**: in 4 of 7 entries (5 mentions)",
        "- **queue**: in 4 of 7 entries (5 mentions)",
        "- **billing**: in 4 of 7 entries (4 mentions)",
    ]
    days = [line for line in lines if line.startswith("### ")]
    assert days == [
        "### Sunday, Feb 01, 2026",
        "### Monday, Feb 02, 2026",
        "### Tuesday, Feb 03, 2026",
        "### Wednesday, Feb 04, 2026",
        "### Thursday, Feb 05, 2026",
        "### Friday, Feb 06, 2026",
        "### Saturday, Feb 07, 2026",
    ]
    assert "- **\\# not a heading**: Billing tests failed twice. _(mood: tired)_" in lines
    assert not any(line.startswith("# ") for line in lines[1:])  # entry text adds no headings
    assert "- Mood: focused (2), tired (1)." in lines
    assert "without an AI model" in lines[-1]
    assert report_period(week_of_entries()) == {"start": "Feb 01, 2026", "end": "Feb 07, 2026"}


def test_offline_report_is_deterministic() -> None:
    entries = week_of_entries()
    assert offline_report(entries) == offline_report(entries)
    assert offline_report(entries) == offline_report(list(reversed(entries)))
    with pytest.raises(ValueError, match="at least one"):
        offline_report([])
