"""Google Gemini through the ``generateContent`` and ``streamGenerateContent`` REST API."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .base import DEFAULT_MAX_TOKENS, Completion, TextStream
from .pricing import cost_of
from .sse import json_events
from .transport import (
    HttpProvider,
    JsonTransport,
    RetryPolicy,
    Service,
    Timeouts,
    as_dict,
    as_list,
)

DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"
DEFAULT_GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"


class GeminiProvider(HttpProvider):
    """``POST {base_url}/v1beta/models/{model}:generateContent`` (or ``:streamGenerateContent``)
    with the key in a header."""

    name = "gemini"

    def __init__(
        self,
        api_key: str,
        model: str = DEFAULT_GEMINI_MODEL,
        *,
        base_url: str = DEFAULT_GEMINI_BASE_URL,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("GeminiProvider needs an API key (GEMINI_API_KEY)")
        self._api_key = api_key
        self.model = model.strip().removeprefix("models/")
        self.base_url = base_url.rstrip("/")
        # A base URL that already names the API version is used as it is.
        version = "" if self.base_url.endswith(("/v1beta", "/v1")) else "/v1beta"
        self._model_url = f"{self.base_url}{version}/models/{quote(self.model, safe='-._')}"
        self._transport = JsonTransport(
            Service(
                provider=self.name,
                label=f"Gemini ({self.model})",
                base_url=self.base_url,
                model=self.model,
                key_env="GEMINI_API_KEY",
                model_env="GEMINI_MODEL",
                base_env="GEMINI_BASE_URL",
                has_key=True,
            ),
            secret=api_key,
            timeouts=timeouts or Timeouts(),
            retry=retry or RetryPolicy(),
        )

    def complete(
        self, system: str, prompt: str, *, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> Completion:
        data, attempts = self._transport.post_json(
            f"{self._model_url}:generateContent", *self._request(system, prompt, max_tokens)
        )
        answer = _Answer()
        answer.add(data)
        return self._finish(answer, attempts, max_tokens)

    def stream_text(
        self, system: str, prompt: str, *, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> TextStream:
        """``streamGenerateContent?alt=sse``: each event is a response holding the next part
        of the text; the last one carries the finish reason and the whole usage."""
        return TextStream(self._stream(system, prompt, max_tokens))

    def _stream(
        self, system: str, prompt: str, max_tokens: int
    ) -> Generator[str, None, Completion]:
        body, headers = self._request(system, prompt, max_tokens)
        url = f"{self._model_url}:streamGenerateContent?alt=sse"
        response, attempts = self._transport.post(url, body, headers, stream=True)
        answer = _Answer()
        for chunk in json_events(self._transport, response, attempts):
            if piece := answer.add(chunk):
                yield piece
        return self._finish(answer, attempts, max_tokens)

    def _request(
        self, system: str, prompt: str, max_tokens: int
    ) -> tuple[dict[str, Any], dict[str, str]]:
        body: dict[str, Any] = {
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {"maxOutputTokens": max_tokens},
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        return body, {"x-goog-api-key": self._api_key or "", "content-type": "application/json"}

    def _finish(self, answer: _Answer, attempts: int, max_tokens: int) -> Completion:
        t = self._transport
        label = t.service.label
        if not answer.text:
            if answer.block_reason:
                t.fail(
                    f"{label} blocked the prompt (blockReason {answer.block_reason})",
                    attempts=attempts,
                )
            if not answer.candidates:
                t.fail(f"{label} answered without any candidate", status=200, attempts=attempts)
            if answer.finish == "MAX_TOKENS":
                t.fail(
                    f"{label} used all {max_tokens} output tokens (thinking included) before "
                    "writing any text; ask for more max_tokens",
                    attempts=attempts,
                )
            t.fail(f"{label} returned no text (finishReason {answer.finish})", attempts=attempts)
        usage = answer.usage
        input_tokens = _int(usage.get("promptTokenCount"))
        # Thinking tokens are billed at the output rate.
        output_tokens = _int(usage.get("candidatesTokenCount")) + _int(
            usage.get("thoughtsTokenCount")
        )
        cost, known = cost_of(self.model, input_tokens, output_tokens)
        return Completion(
            text=answer.text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            model=answer.model or self.model,
            provider=self.name,
            cost_known=known,
            truncated=answer.finish == "MAX_TOKENS",
        )


@dataclass
class _Answer:
    """What the responses of one answer said so far: a whole response, or a stream's chunks."""

    text: str = ""
    candidates: bool = False
    finish: Any = None
    block_reason: Any = None
    usage: dict[str, Any] = field(default_factory=dict)
    model: str = ""

    def add(self, data: dict[str, Any]) -> str:
        """Take in one response; returns the text it adds."""
        feedback = as_dict(data.get("promptFeedback"))
        self.block_reason = feedback.get("blockReason") or self.block_reason
        # Each chunk's usage counts the answer so far: the last one counts it all.
        self.usage = as_dict(data.get("usageMetadata")) or self.usage
        self.model = str(data.get("modelVersion") or self.model)
        candidates = as_list(data.get("candidates"))
        if not candidates:
            return ""
        self.candidates = True
        first = as_dict(candidates[0])
        self.finish = first.get("finishReason") or self.finish
        parts = as_list(as_dict(first.get("content")).get("parts"))
        # Thinking models may return their thoughts as parts flagged "thought": not the answer.
        piece = "".join(
            p["text"]
            for p in parts
            if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
        )
        self.text += piece
        return piece


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
