"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp, Ollama, LM Studio): chat completions.

A base URL without an API key is allowed, for local model servers.
"""

from __future__ import annotations

from typing import Any

from .base import DEFAULT_MAX_TOKENS, Completion, ProviderError
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
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        headers = {"content-type": "application/json"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        field = self._tokens_field
        body: dict[str, Any] = {"model": self.model, "messages": messages, field: max_tokens}
        try:
            data, attempts = self._transport.post_json(self._url, body, headers)
        except ProviderError as exc:
            if not (
                exc.status == 400
                and field == "max_tokens"
                and "max_completion_tokens" in (exc.server_message or "")
            ):
                raise
            self._tokens_field = "max_completion_tokens"
        else:
            return self._parse(data, attempts)
        # Outside the except block, so a failure here does not chain the first error.
        body = {"model": self.model, "messages": messages, self._tokens_field: max_tokens}
        data, attempts = self._transport.post_json(self._url, body, headers)
        return self._parse(data, attempts)

    def _parse(self, data: dict[str, Any], attempts: int) -> Completion:
        t = self._transport
        label = t.service.label
        choices = as_list(data.get("choices"))
        if not choices or not isinstance(choices[0], dict):
            t.fail(f"{label} answered without any choice", status=200, attempts=attempts)
        choice = choices[0]
        message = as_dict(choice.get("message"))
        text = message.get("content")
        finish = choice.get("finish_reason")
        if not isinstance(text, str) or not text:
            refusal = message.get("refusal")
            if isinstance(refusal, str) and refusal:
                t.fail(f"{label} refused: {refusal}", attempts=attempts)
            if finish == "length":
                t.fail(
                    f"{label} used all its output tokens before writing any text; "
                    "ask for more max_tokens",
                    attempts=attempts,
                )
            t.fail(f"{label} returned no text (finish_reason {finish})", attempts=attempts)

        # Some local servers omit usage; then tokens and cost are 0.
        usage = as_dict(data.get("usage"))
        input_tokens = _int(usage.get("prompt_tokens"))
        output_tokens = _int(usage.get("completion_tokens"))
        cost, known = cost_of(self.model, input_tokens, output_tokens)
        return Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            model=str(data.get("model") or self.model),
            provider=self.name,
            cost_known=known,
            truncated=finish == "length",
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
