"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp, Ollama, LM Studio): chat completions,
whole or streamed.

A base URL without an API key is allowed, for local model servers.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import httpx

from .base import DEFAULT_MAX_TOKENS, Completion, ProviderError, TextStream
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

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider(HttpProvider):
    """``POST {base_url}/chat/completions``; the key is optional for local servers."""

    name = "openai"

    def __init__(
        self,
        api_key: str | None = None,
        model: str = DEFAULT_OPENAI_MODEL,
        *,
        base_url: str = DEFAULT_OPENAI_BASE_URL,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._api_key = api_key or None
        self.model = model.strip()
        self.base_url = base_url.rstrip("/")
        if self._api_key is None and self.base_url == DEFAULT_OPENAI_BASE_URL:
            raise ValueError("api.openai.com needs an API key (OPENAI_API_KEY)")
        self._url = f"{self.base_url}/chat/completions"
        if self.base_url == DEFAULT_OPENAI_BASE_URL:
            label = f"OpenAI ({self.model})"
        else:
            label = f"OpenAI-compatible server at {self.base_url} ({self.model})"
        self._transport = JsonTransport(
            Service(
                provider=self.name,
                label=label,
                base_url=self.base_url,
                model=self.model,
                key_env="OPENAI_API_KEY",
                model_env="OPENAI_MODEL",
                base_env="OPENAI_BASE_URL",
                has_key=self._api_key is not None,
            ),
            secret=self._api_key,
            timeouts=timeouts or Timeouts(),
            retry=retry or RetryPolicy(),
        )
        # Newer OpenAI models reject "max_tokens"; switched on the first such 400.
        self._tokens_field = "max_tokens"

    def complete(
        self, system: str, prompt: str, *, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> Completion:
        response, attempts = self._post(system, prompt, max_tokens, stream=False)
        answer = _Answer()
        answer.add(self._transport.decode_success(response, attempts))
        return self._finish(answer, attempts)

    def stream_text(
        self, system: str, prompt: str, *, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> TextStream:
        """``"stream": true``: each event is a chunk whose delta holds the next part of the
        text; with ``include_usage`` a last chunk without choices carries the usage."""
        return TextStream(self._stream(system, prompt, max_tokens))

    def _stream(
        self, system: str, prompt: str, max_tokens: int
    ) -> Generator[str, None, Completion]:
        response, attempts = self._post(system, prompt, max_tokens, stream=True)
        answer = _Answer()
        for chunk in json_events(self._transport, response, attempts):
            if piece := answer.add(chunk):
                yield piece
        return self._finish(answer, attempts)

    def _post(
        self, system: str, prompt: str, max_tokens: int, *, stream: bool
    ) -> tuple[httpx.Response, int]:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        headers = {"content-type": "application/json"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        extra: dict[str, Any] = {}
        if stream:
            extra = {"stream": True, "stream_options": {"include_usage": True}}
        field = self._tokens_field
        body = {"model": self.model, "messages": messages, field: max_tokens, **extra}
        try:
            return self._transport.post(self._url, body, headers, stream=stream)
        except ProviderError as exc:
            if not (
                exc.status == 400
                and field == "max_tokens"
                and "max_completion_tokens" in (exc.server_message or "")
            ):
                raise
            self._tokens_field = "max_completion_tokens"
        # Outside the except block, so a failure here does not chain the first error.
        body = {"model": self.model, "messages": messages, self._tokens_field: max_tokens, **extra}
        return self._transport.post(self._url, body, headers, stream=stream)

    def _finish(self, answer: _Answer, attempts: int) -> Completion:
        t = self._transport
        label = t.service.label
        if not answer.choices:
            t.fail(f"{label} answered without any choice", status=200, attempts=attempts)
        if not answer.text:
            if answer.refusal:
                t.fail(f"{label} refused: {answer.refusal}", attempts=attempts)
            if answer.finish == "length":
                t.fail(
                    f"{label} used all its output tokens before writing any text; "
                    "ask for more max_tokens",
                    attempts=attempts,
                )
            t.fail(f"{label} returned no text (finish_reason {answer.finish})", attempts=attempts)
        # Some local servers omit usage; then tokens and cost are 0.
        input_tokens = _int(answer.usage.get("prompt_tokens"))
        output_tokens = _int(answer.usage.get("completion_tokens"))
        cost, known = cost_of(self.model, input_tokens, output_tokens)
        return Completion(
            text=answer.text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            model=answer.model or self.model,
            provider=self.name,
            cost_known=known,
            truncated=answer.finish == "length",
        )


@dataclass
class _Answer:
    """What one answer said so far: a whole completion, or a stream's chunks (``delta``)."""

    text: str = ""
    refusal: str = ""
    choices: bool = False
    finish: Any = None
    usage: dict[str, Any] = field(default_factory=dict)
    model: str = ""

    def add(self, data: dict[str, Any]) -> str:
        """Take in one completion or chunk; returns the text it adds."""
        self.usage = as_dict(data.get("usage")) or self.usage
        self.model = str(data.get("model") or self.model)
        choices = as_list(data.get("choices"))
        if not choices or not isinstance(choices[0], dict):
            return ""  # the usage chunk at the end of a stream has no choices
        self.choices = True
        choice = choices[0]
        self.finish = choice.get("finish_reason") or self.finish
        message = as_dict(choice.get("delta") or choice.get("message"))
        refusal = message.get("refusal")
        if isinstance(refusal, str):
            self.refusal += refusal
        piece = message.get("content")
        if not isinstance(piece, str):
            return ""
        self.text += piece
        return piece


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
