"""HTTP plumbing shared by the providers: time-outs, retries with backoff, errors as ProviderError.

Every failure leaves here as a ProviderError whose message says what went wrong and what to do;
httpx exceptions never escape, and the API key is scrubbed from everything that is kept.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import httpx

from .base import Closing, ProviderError

log = logging.getLogger("examples.ai")

_SNIPPET = 300


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``read`` is the longest silence while the model writes, not the total time."""

    connect: float = 10.0
    read: float = 120.0
    write: float = 30.0
    pool: float = 10.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of 408, 429, 5xx and network errors, with exponential backoff and jitter.

    A server's ``Retry-After`` wins over the backoff; when it asks for more than
    ``max_retry_after`` seconds the request fails at once rather than holding the job.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay after failed attempt number ``attempt`` (1-based): half fixed, half random."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class Service:
    """Who a transport talks to, for messages that tell the user which setting to fix."""

    provider: str
    label: str
    base_url: str
    model: str
    key_env: str
    model_env: str
    base_env: str
    has_key: bool


def redact(text: str, secret: str | None) -> str:
    """``text`` without the secret (and without keys that servers echo back, masked or not)."""
    if secret:
        text = text.replace(secret, "[redacted]")
    return re.sub(r"(?i)(api key provided:\s*)\S+", r"\1[redacted]", text)


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one: tolerant reading of responses."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


class JsonTransport(Closing):
    """POSTs JSON and returns the decoded JSON answer, retrying what is worth retrying."""

    def __init__(
        self,
        service: Service,
        *,
        secret: str | None,
        timeouts: Timeouts,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if retry.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        self.service = service
        self.timeouts = timeouts
        self.retry = retry
        self._secret = secret
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client = httpx.Client(
            timeout=timeouts.to_httpx(), headers={"user-agent": "underway-examples-ai/0.1"}
        )

    def close(self) -> None:
        self._client.close()

    def fail(
        self,
        message: str,
        *,
        status: int | None = None,
        server_message: str | None = None,
        attempts: int = 1,
    ) -> NoReturn:
        raise ProviderError(
            redact(message, self._secret),
            provider=self.service.provider,
            status=status,
            server_message=redact(server_message, self._secret) if server_message else None,
            attempts=attempts,
        )

    def post_json(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> tuple[dict[str, Any], int]:
        """(decoded JSON object, number of attempts made). Raises ProviderError."""
        response, attempts = self.post(url, body, headers)
        return self.decode_success(response, attempts), attempts

    def post(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str], *, stream: bool = False
    ) -> tuple[httpx.Response, int]:
        """(the first successful response, number of attempts made). Raises ProviderError.
        With ``stream`` the body is not read yet: the caller reads it and closes the response;
        once it is being read nothing is retried, since its first pieces are already out."""
        policy = self.retry
        for attempt in range(1, policy.max_attempts + 1):
            last = attempt == policy.max_attempts
            # Failures are raised outside the except blocks so no httpx traceback is chained.
            response: httpx.Response | None = None
            problem, fatal = "", False
            try:
                request = self._client.build_request("POST", url, json=body, headers=dict(headers))
                sent = self._client.send(request, stream=stream)
                if stream and not sent.is_success:  # its message is in the body
                    try:
                        sent.read()
                    finally:
                        sent.close()
                response = sent
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                problem = f"invalid {self.service.base_env} {self.service.base_url!r}: {exc}"
                fatal = True
            except httpx.TransportError as exc:
                problem = self._transport_message(exc, attempt if last else 1)
            except httpx.RequestError as exc:
                problem, fatal = f"request to {self.service.label} failed: {exc}", True
            if response is None:
                if fatal or last:
                    self.fail(problem, attempts=attempt)
                self._wait(problem, attempt, self.retry.backoff(attempt, self._rng))
                continue

            if response.is_success:
                return response, attempt

            server_message, retry_after, key_rejected = self._error_details(response)
            status = response.status_code
            message = self._status_message(status, server_message, attempt, key_rejected)
            if not retryable_status(status) or last:
                self.fail(message, status=status, server_message=server_message, attempts=attempt)
            if retry_after is not None and retry_after > policy.max_retry_after:
                self.fail(
                    f"{message} (the server asks to wait {retry_after:g} s before retrying, "
                    f"longer than the {policy.max_retry_after:g} s this client waits)",
                    status=status,
                    server_message=server_message,
                    attempts=attempt,
                )
            delay = retry_after if retry_after is not None else policy.backoff(attempt, self._rng)
            self._wait(f"HTTP {status}", attempt, delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait(self, what: str, attempt: int, delay: float) -> None:
        log.warning(
            "%s: %s; retrying in %.2f s (attempt %d of %d)",
            self.service.label,
            redact(what, self._secret),
            delay,
            attempt + 1,
            self.retry.max_attempts,
        )
        self._sleep(delay)

    def decode_success(self, response: httpx.Response, attempts: int) -> dict[str, Any]:
        data = _json_or_invalid(response)
        if data is _INVALID:
            self.fail(
                f"{self.service.label} answered HTTP {response.status_code} with a body that is "
                f"not valid JSON: {snippet(response.text)!r}",
                status=response.status_code,
                attempts=attempts,
            )
        if not isinstance(data, dict):
            self.fail(
                f"{self.service.label} answered HTTP {response.status_code} with JSON that is not "
                f"an object: {snippet(response.text)!r}",
                status=response.status_code,
                attempts=attempts,
            )
        return data

    def _error_details(self, response: httpx.Response) -> tuple[str, float | None, bool]:
        """(the server's message, seconds it asks us to wait or None, whether the API key was
        rejected)."""
        data = _json_or_invalid(response)
        # Google sometimes wraps the error object in a one-element list.
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = data[0]
        message = error_message(data) or snippet(response.text) or response.reason_phrase
        retry_after = _parse_retry_after(response.headers.get("retry-after"))
        if retry_after is None:
            retry_after = _retry_info_delay(data)
        return message, retry_after, _key_rejected(data)

    def _status_message(
        self, status: int, server_message: str, attempts: int, key_rejected: bool = False
    ) -> str:
        s = self.service
        after = f" after {attempts} attempts" if attempts > 1 else ""
        said = f"; the server said: {server_message}"
        if status in (401, 403) or key_rejected:
            if s.has_key:
                problem = f"{s.key_env} is wrong, expired or lacks access to model '{s.model}'"
            else:
                problem = f"no API key was sent because {s.key_env} is not set"
            return f"{s.label} refused the request (HTTP {status}): {problem}{said}"
        if status == 404:
            return (
                f"{s.label} does not know model '{s.model}' (HTTP 404): set {s.model_env} to a "
                f"model it serves, or check {s.base_env} ({s.base_url}){said}"
            )
        if status == 429:
            return f"{s.label} rate limit or quota exceeded (HTTP 429){after}{said}"
        if status >= 500:
            return f"{s.label} server error (HTTP {status}){after}{said}"
        if status == 400:
            return f"{s.label} rejected the request (HTTP 400): {server_message}"
        return f"{s.label} answered HTTP {status}{after}{said}"

    def _transport_message(self, exc: httpx.TransportError, attempts: int) -> str:
        s, t = self.service, self.timeouts
        after = f" after {attempts} attempts" if attempts > 1 else ""
        if isinstance(exc, httpx.ConnectTimeout):
            return (
                f"could not connect to {s.label} at {s.base_url} within {t.connect:g} s "
                f"(connect time-out){after}"
            )
        if isinstance(exc, httpx.ReadTimeout):
            return (
                f"{s.label} did not answer within {t.read:g} s (read time-out){after}; "
                "raise the read time-out or ask for fewer tokens"
            )
        if isinstance(exc, httpx.WriteTimeout):
            return f"sending the request to {s.label} took over {t.write:g} s{after}"
        if isinstance(exc, httpx.PoolTimeout):
            return f"no free connection to {s.label} within {t.pool:g} s{after}"
        if isinstance(exc, httpx.ConnectError):
            return f"could not connect to {s.label} at {s.base_url}{after}: {exc or type(exc)}"
        return f"connection to {s.label} failed{after}: {type(exc).__name__}: {exc}"


_INVALID = object()


def _json_or_invalid(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return _INVALID


def snippet(text: str) -> str:
    return " ".join(text.split())[:_SNIPPET]


def error_message(data: Any) -> str | None:
    """The human part of an error body: Gemini/OpenAI ``{"error": {...}}`` and common variants
    of local servers (``{"error": "..."}``, ``{"message": ...}``, ``{"detail": ...}``)."""
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or "").strip()
        tag = error.get("status") or error.get("type") or error.get("code")
        if message and tag and str(tag) not in message:
            return f"{message} [{tag}]"
        return message or (str(tag) if tag else None)
    if isinstance(error, str) and error.strip():
        return error.strip()
    for key in ("message", "detail"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _key_rejected(data: Any) -> bool:
    """Gemini answers a bad key with 400 INVALID_ARGUMENT and an ErrorInfo reason."""
    details = as_list(as_dict(as_dict(data).get("error")).get("details"))
    return any(as_dict(d).get("reason") == "API_KEY_INVALID" for d in details)


def _retry_info_delay(data: Any) -> float | None:
    """Gemini puts the wait in ``error.details[].retryDelay`` ("37s") instead of a header."""
    if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
        return None
    for detail in data["error"].get("details") or []:
        if isinstance(detail, dict) and isinstance(detail.get("retryDelay"), str):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", detail["retryDelay"])
            if match:
                return float(match.group(1))
    return None


class HttpProvider(Closing):
    """What the HTTP providers share: a transport, closing, and a repr without the key."""

    name: str
    offline = False
    model: str
    base_url: str
    _transport: JsonTransport
    _api_key: str | None

    @property
    def label(self) -> str:
        return self._transport.service.label

    def close(self) -> None:
        self._transport.close()

    def __repr__(self) -> str:
        key = "set" if self._api_key else "not set"
        return (
            f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r}, "
            f"api_key={key})"
        )
