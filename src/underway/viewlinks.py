"""Job view links: a signed, expiring capability to read one job, for e-mails and pages that
have no session of their own.

A token is "EXPIRY.SIGNATURE": the expiry in whole seconds since the epoch, in decimal, and the
first 128 bits of an HMAC-SHA256 of the job id and that expiry under the secret key, in URL-safe
base64 (33 characters in all). The job id is not in the token: the link's path names it, and a
token signed for another job does not match. The core signs (Underway.view_token) and the web
layer checks, so this module needs only the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import time

ENV_SECRET_KEY = "UNDERWAY_SECRET_KEY"
DEFAULT_TTL_SECONDS = 3600
SIGNATURE_BYTES = 16
MAX_EXPIRY_DIGITS = 12  # up to the year 33658; a longer expiry is refused without more reading
DOMAIN = b"underway-view-link\0"  # so that no other signature under the same key matches


def secret_key(explicit: str | bytes | None = None) -> bytes | None:
    """The key view links are signed with: explicit, else UNDERWAY_SECRET_KEY; None when
    neither is set (an empty value counts as not set)."""
    key = explicit or os.environ.get(ENV_SECRET_KEY) or None
    if isinstance(key, str):
        return key.encode("utf-8", "surrogateescape")
    return key


def _signature(key: bytes, job_id: str, expires: int) -> str:
    message = DOMAIN + job_id.encode("utf-8", "surrogatepass") + b"\0" + str(expires).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(
    key: bytes, job_id: str, ttl: float = DEFAULT_TTL_SECONDS, now: float | None = None
) -> str:
    """A token that reads job_id until ttl seconds after now (default: the current time)."""
    if not key:
        raise ValueError("a view link needs a non-empty secret key")
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("a view link needs a job id")
    if not (isinstance(ttl, int | float) and math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
    expires = math.ceil((time.time() if now is None else now) + ttl)
    if len(str(expires)) > MAX_EXPIRY_DIGITS:
        raise ValueError(f"ttl {ttl!r} is too long for a view link")
    return f"{expires}.{_signature(key, job_id, expires)}"


def verify(key: bytes, job_id: str, token: str, now: float | None = None) -> bool:
    """True when token was signed with key for job_id and has not expired at now. Anything
    else (altered, another job or key, expired, not a token at all) is False, never an error."""
    if not key or not isinstance(token, str) or not isinstance(job_id, str):
        return False
    expiry, dot, signature = token.partition(".")
    if not dot or len(expiry) > MAX_EXPIRY_DIGITS or not (expiry.isascii() and expiry.isdigit()):
        return False
    expires = int(expiry)
    if str(expires) != expiry or expires <= (time.time() if now is None else now):
        return False  # one spelling per token: no leading zeros
    expected = _signature(key, job_id, expires).encode("ascii")
    return hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape"))
