"""Streamed answers: the providers read the real SSE wire formats of Gemini
(``streamGenerateContent?alt=sse``) and OpenAI-compatible servers (``"stream": true``), served
by the local server in wire_server.py in chunked transfer encoding, one event at a time."""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_ai_providers import (
    FAST,
    GEMINI_KEY,
    OPENAI_KEY,
    TIMEOUTS,
    gemini_error,
    make_gemini,
    make_openai,
    openai_error,
)
from wire_server import FakeAPI, Reply, sse

from examples.ai import OfflineProvider, OpenAIProvider, ProviderError, RetryPolicy, Timeouts
from examples.ai.sse import data_events

GEMINI_STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


def gemini_chunk(text: str, finish: str | None = None, output: int = 0) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
    if finish:
        candidate["finishReason"] = finish
    usage = {"promptTokenCount": 1000, "totalTokenCount": 1000 + output}
    if output:
        usage["candidatesTokenCount"] = output
    return {
        "candidates": [{**candidate, "index": 0}],
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1",
    }


def gemini_events(*chunks: dict[str, Any]) -> list[str]:
    # Gemini ends its events with CRLF pairs.
    return [event.replace("\n", "\r\n") for event in sse(*chunks)]


def openai_chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }


def openai_usage(prompt: int, output: int) -> dict[str, Any]:
    chunk = openai_chunk()
    chunk["choices"] = []
    chunk["usage"] = {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
    }
    return chunk


def openai_stream(*pieces: str, prompt: int = 1000, output: int = 200) -> list[str]:
    first = openai_chunk("")
    first["choices"][0]["delta"] = {"role": "assistant", "content": "", "refusal": None}
    chunks = [first, *(openai_chunk(p) for p in pieces), openai_chunk(finish="stop")]
    return sse(*chunks, openai_usage(prompt, output), "[DONE]")


def test_gemini_streams_the_answer_piece_by_piece(api: FakeAPI) -> None:
    thinking = gemini_chunk("Let me think.")
    thinking["candidates"][0]["content"]["parts"][0]["thought"] = True
    last = gemini_chunk("Report\n", finish="STOP", output=200)
    last["usageMetadata"]["thoughtsTokenCount"] = 100
    events = gemini_events(thinking, gemini_chunk("# Weekly "), gemini_chunk("Progress "), last)
    reply = Reply(events=events, hold_after=2)
    api.reply(reply)

    pieces = []
    with make_gemini(api) as gemini:
        stream = gemini.stream_text("You write reports.", "Summarise my week.", max_tokens=512)
        for piece in stream:
            pieces.append(piece)
            reply.go.set()  # the server holds the rest until the first piece is here

    assert reply.released, "the first piece came only after the whole answer"
    [request] = api.received
    assert request.path == GEMINI_STREAM
    assert request.headers["x-goog-api-key"] == GEMINI_KEY
    assert request.body == {
        "contents": [{"role": "user", "parts": [{"text": "Summarise my week."}]}],
        "generationConfig": {"maxOutputTokens": 512},
        "systemInstruction": {"parts": [{"text": "You write reports."}]},
    }
    assert pieces == ["# Weekly ", "Progress ", "Report\n"]  # thoughts are not the answer
    answer = stream.completion
    assert answer.text == "# Weekly Progress Report\n"
    assert (answer.input_tokens, answer.output_tokens) == (1000, 300)  # the last chunk's usage
    assert answer.cost == pytest.approx((1000 * 0.30 + 300 * 2.50) / 1_000_000)
    assert (answer.model, answer.provider) == ("gemini-2.5-flash", "gemini")
    assert not answer.truncated


def test_openai_streams_the_answer_piece_by_piece(api: FakeAPI) -> None:
    reply = Reply(events=openai_stream("Hel", "lo ", "world"), hold_after=2)
    api.reply(reply)

    pieces = []
    with make_openai(api) as openai:
        stream = openai.stream_text("You greet.", "Greet.", max_tokens=64)
        for piece in stream:
            pieces.append(piece)
            reply.go.set()

    assert reply.released, "the first piece came only after the whole answer"
    [request] = api.received
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You greet."},
            {"role": "user", "content": "Greet."},
        ],
        "max_tokens": 64,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert pieces == ["Hel", "lo ", "world"]
    answer = stream.completion
    assert answer.text == "Hello world"
    assert (answer.input_tokens, answer.output_tokens) == (1000, 200)  # from the usage chunk
    assert answer.cost == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1_000_000)
    assert answer.model == "gpt-4o-mini-2024-07-18" and not answer.truncated


def test_a_local_server_without_usage_or_streaming_still_gives_the_text(api: FakeAPI) -> None:
    no_usage = openai_stream("Hi ", "there")
    del no_usage[-2]  # the usage chunk: several local servers leave it out
    whole = {
        "model": "llama3.2",
        "choices": [{"index": 0, "message": {"content": "All at once"}, "finish_reason": "stop"}],
    }
    api.reply(Reply(events=no_usage), Reply(body=whole))  # the second ignores "stream": true

    with OpenAIProvider(None, "llama3.2", base_url=f"{api.url}/v1", retry=FAST) as local:
        stream = local.stream_text("", "Hello")
        assert list(stream) == ["Hi ", "there"]
        assert (stream.completion.text, stream.completion.cost) == ("Hi there", 0.0)
        assert not stream.completion.cost_known
        at_once = local.stream_text("", "Hello")
        assert list(at_once) == ["All at once"]
        assert at_once.completion.model == "llama3.2"
    assert "authorization" not in api.received[0].headers


def test_a_stream_is_retried_only_before_it_starts(api: FakeAPI) -> None:
    busy = gemini_error(503, "The model is overloaded.", "UNAVAILABLE")
    api.reply(
        Reply(503, busy),
        Reply(events=gemini_events(gemini_chunk("ok", finish="STOP", output=1))),
        Reply(events=gemini_events(gemini_chunk("half")), cut_after=1),
        Reply(events=gemini_events(gemini_chunk("never sent"))),
    )
    with make_gemini(api) as gemini:
        assert "".join(gemini.stream_text("s", "p")) == "ok"
        broken = gemini.stream_text("s", "p")
        pieces = []
        with pytest.raises(ProviderError, match="broke in the middle of its answer") as caught:
            pieces.extend(broken)
    assert pieces == ["half"]
    assert len(api.received) == 3  # the broken stream was not asked for again
    assert caught.value.__context__ is None
    with pytest.raises(RuntimeError, match="not complete"):
        _ = broken.completion


def test_openai_switches_to_max_completion_tokens_for_a_stream_too(api: FakeAPI) -> None:
    refusal = openai_error(400, "Use 'max_completion_tokens' instead.", "unsupported_parameter")
    api.reply(Reply(400, refusal), Reply(events=openai_stream("ok")))
    with make_openai(api) as openai:
        assert "".join(openai.stream_text("s", "p", max_tokens=64)) == "ok"
    first, second = (r.body for r in api.received)
    assert first["max_tokens"] == 64 and second["max_completion_tokens"] == 64
    assert second["stream"] is True


@pytest.mark.parametrize("flavour", ["gemini", "openai"])
def test_an_error_event_fails_clearly_without_the_key(api: FakeAPI, flavour: str) -> None:
    key = GEMINI_KEY if flavour == "gemini" else OPENAI_KEY
    said = f"Internal error with key {key}. Please retry."
    error = (gemini_error if flavour == "gemini" else openai_error)(500, said, "INTERNAL")
    first = gemini_chunk("Once ") if flavour == "gemini" else openai_chunk("Once ")
    api.reply(Reply(events=sse(first, error)))
    make = make_gemini if flavour == "gemini" else make_openai
    with make(api) as provider, pytest.raises(ProviderError) as caught:
        list(provider.stream_text("s", "p"))
    assert "failed in the middle of its answer" in str(caught.value)
    assert "Internal error" in str(caught.value) and key not in str(caught.value)
    assert key not in (caught.value.server_message or "")


def test_silence_or_bad_json_in_the_middle_of_a_stream_fails_clearly(api: FakeAPI) -> None:
    slow = Reply(events=openai_stream("a", "b"), pause=0.5)
    api.reply(slow, Reply(events=[*sse(openai_chunk("a")), "data: {not json\n\n"]))
    quick = Timeouts(connect=2.0, read=0.2)
    with make_openai(api, timeouts=quick, retry=RetryPolicy(max_attempts=1)) as openai:
        with pytest.raises(ProviderError, match=r"wrote nothing for 0\.2 s in the middle"):
            list(openai.stream_text("s", "p"))
        with pytest.raises(ProviderError, match=r"not a JSON object: '\{not json'"):
            list(openai.stream_text("s", "p"))
    assert len(api.received) == 2


def test_a_stream_given_up_early_has_no_completion(api: FakeAPI) -> None:
    api.reply(Reply(events=openai_stream("a", "b", "c")), Reply(events=openai_stream("d")))
    with make_openai(api, timeouts=TIMEOUTS) as openai:
        with openai.stream_text("s", "p") as stream:
            assert next(iter(stream)) == "a"
        assert list(stream) == []  # closed: the rest is not read
        with pytest.raises(RuntimeError, match="not complete"):
            _ = stream.completion
        assert "".join(openai.stream_text("s", "p")) == "d"


def test_the_offline_provider_streams_with_its_latency_spread_over_the_pieces() -> None:
    text = "# Weekly Progress Report\n\n**Period:** Feb 01, 2026 to Feb 07, 2026\n"
    provider = OfflineProvider(latency=0.3)
    started = time.monotonic()
    stream = provider.simulate_stream(text)
    pieces, arrivals = [], []
    for piece in stream:
        pieces.append(piece)
        arrivals.append(time.monotonic() - started)
    assert "".join(pieces) == text and len(pieces) >= 8
    assert arrivals[-1] >= 0.29
    early = [a for a in arrivals if a < arrivals[-1] / 2]
    assert len(early) >= len(pieces) // 4, arrivals  # spread over the time, not all at the end
    answer = stream.completion
    assert (answer.text, answer.cost, answer.provider) == (text, 0.0, "offline")
    assert list(OfflineProvider().simulate_stream("")) == []
    with pytest.raises(ProviderError, match="offline_report"):
        OfflineProvider().stream_text("s", "p")


def test_sse_events_follow_the_rules_of_the_format() -> None:
    lines = [
        ": keep-alive",
        "",
        "event: message",
        "id: 7",
        'data: {"a":',
        "data:1}",
        "",
        "",
        "data",
    ]
    # Comments and other fields are skipped, data lines join with a new line, and the last event
    # counts even without the blank line that should end it.
    assert list(data_events(lines)) == ['{"a":\n1}', ""]
