"""Google Gemini through the ``generateContent`` REST API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .base import DEFAULT_MAX_TOKENS, Completion
from .pricing import cost_of
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
    """``POST {base_url}/v1beta/models/{model}:generateContent`` with the key in a header."""

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
        self._url = (
            f"{self.base_url}{version}/models/{quote(self.model, safe='-._')}:generateContent"
        )
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
        body: dict[str, Any] = {
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {"maxOutputTokens": max_tokens},
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        headers = {"x-goog-api-key": self._api_key or "", "content-type": "application/json"}
        data, attempts = self._transport.post_json(self._url, body, headers)
        return self._parse(data, attempts, max_tokens)

    def _parse(self, data: dict[str, Any], attempts: int, max_tokens: int) -> Completion:
        t = self._transport
        label = t.service.label
        candidates = as_list(data.get("candidates"))
        if not candidates:
            reason = as_dict(data.get("promptFeedback")).get("blockReason")
            if reason:
                t.fail(f"{label} blocked the prompt (blockReason {reason})", attempts=attempts)
            t.fail(f"{label} answered without any candidate", status=200, attempts=attempts)
        first = as_dict(candidates[0])
        parts = as_list(as_dict(first.get("content")).get("parts"))
        # Thinking models may return their thoughts as parts flagged "thought": not the answer.
        text = "".join(
            p["text"]
            for p in parts
            if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
        )
        finish = first.get("finishReason")
        if not text:
            if finish == "MAX_TOKENS":
                t.fail(
                    f"{label} used all {max_tokens} output tokens (thinking included) before "
                    "writing any text; ask for more max_tokens",
                    attempts=attempts,
                )
            t.fail(f"{label} returned no text (finishReason {finish})", attempts=attempts)

        usage = as_dict(data.get("usageMetadata"))
        input_tokens = _int(usage.get("promptTokenCount"))
        # Thinking tokens are billed at the output rate.
        output_tokens = _int(usage.get("candidatesTokenCount")) + _int(
            usage.get("thoughtsTokenCount")
        )
        model = str(data.get("modelVersion") or self.model)
        cost, known = cost_of(self.model, input_tokens, output_tokens)
        return Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            model=model,
            provider=self.name,
            cost_known=known,
            truncated=finish == "MAX_TOKENS",
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
