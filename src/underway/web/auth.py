"""Tokens, owners, sessions and CSRF: who is asking, and which jobs they may see.

A token maps to an owner, and so may the host application's authenticate hook (its own session,
cookie or header). The owner "admin" sees every job; any other owner sees only the jobs it
dispatched, and everyone else's answer 404, as if they did not exist. Without tokens or a hook the
server is open, which is allowed only for clients on this machine.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from ..errors import ConfigurationError
from ..validation import text_problem
from ..viewlinks import ENV_SECRET_KEY

ADMIN = "admin"
ENV_TOKENS = "UNDERWAY_TOKENS"
SESSION_COOKIE = "underway_session"
SESSION_MAX_AGE = 12 * 3600

# The host application's hook: the owner a request comes from, None for anonymous. A plain
# function runs in a worker thread (it may block); an async one on the event loop.
Authenticate = Callable[[Request], str | Awaitable[str | None] | None]


@dataclass(frozen=True)
class Principal:
    """Who is asking. owner None: the open, token-less local mode, which sees everything.
    job_id: the holder of a view link, who may read that one job and nothing else."""

    owner: str | None
    job_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.job_id is None and (self.owner is None or self.owner == ADMIN)

    def may_see(self, job_owner: str | None, job_id: str | None = None) -> bool:
        if self.job_id is not None:
            return job_id == self.job_id
        return self.is_admin or job_owner == self.owner


@dataclass(frozen=True)
class Session:
    """The dashboard's signed cookie: a random id (the CSRF token derives from it), and the
    owner with a fingerprint of the token that signed in, so that revoking a token ends it."""

    sid: str
    owner: str | None = None
    fingerprint: str | None = None


def parse_tokens(text: str) -> dict[str, str]:
    """Parse `token=owner` pairs separated by commas or new lines; `#` starts a comment line.
    Errors name the entry's position, never its text: it may hold a secret."""
    tokens: dict[str, str] = {}
    entries = [e.strip() for line in text.splitlines() for e in line.split(",")]
    entries = [e for e in entries if e and not e.startswith("#")]
    for number, entry in enumerate(entries, start=1):
        token, sep, owner = (part.strip() for part in entry.partition("="))
        if not sep or not token or not owner:
            raise ConfigurationError(f"{ENV_TOKENS}: entry {number} is not of the form token=owner")
        if tokens.get(token, owner) != owner:
            raise ConfigurationError(f"{ENV_TOKENS}: entry {number} gives a token a second owner")
        check_owner(owner, f"{ENV_TOKENS}: entry {number}")
        tokens[token] = owner
    return tokens


def check_owner(owner: str, where: str) -> None:
    # Owners are stored with the jobs they dispatch: text every backend can store, or refused
    # when the server starts rather than at each dispatch.
    problem = text_problem(owner)
    if problem is not None:
        raise ConfigurationError(f"{where}: the owner {problem}")


def load_tokens(source: str | Mapping[str, str] | None = None) -> dict[str, str]:
    """Tokens from a mapping, from `token=owner` text or the path of a file holding it, or
    (source None) from UNDERWAY_TOKENS. Empty means no tokens: the open local mode."""
    if isinstance(source, Mapping):
        tokens = {str(k).strip(): str(v).strip() for k, v in source.items()}
        if not all(tokens) or not all(tokens.values()):
            raise ConfigurationError("tokens: every token and owner must be a non-empty string")
        for number, owner in enumerate(tokens.values(), start=1):
            check_owner(owner, f"tokens: entry {number}")
        return tokens
    text = (os.environ.get(ENV_TOKENS, "") if source is None else source).strip()
    if not text:
        return {}
    if os.path.isfile(text):
        try:
            with open(text, encoding="utf-8") as file:
                return parse_tokens(file.read())
        except OSError as exc:
            raise ConfigurationError(f"{ENV_TOKENS}: cannot read {text}: {exc}") from exc
    if "=" not in text:
        raise ConfigurationError(
            f"{ENV_TOKENS} is neither token=owner pairs nor the path of a readable file"
        )
    return parse_tokens(text)


def is_loopback(host: str | None) -> bool:
    """True for this machine's addresses and names. None is a client without an address (a Unix
    socket). Other names count as remote: a proxy could pass them through from anyone."""
    if host is None:
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on a dual-stack socket
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def bind_is_local(host: str) -> bool:
    """True when a server bound to host is reachable from this machine only."""
    return host.lower() == "localhost" or is_loopback(host)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Auth:
    """Checks bearer tokens and signs sessions and CSRF tokens for one web app."""

    def __init__(
        self,
        tokens: Mapping[str, str],
        secret_key: str | bytes | None = None,
        secure_cookies: bool | None = None,
        authenticate: Authenticate | None = None,
    ) -> None:
        # Tokens are kept only as digests: lookups do not compare secrets character by character.
        self._owners = {_digest(token): owner for token, owner in tokens.items()}
        self.authenticate = authenticate
        self.has_tokens = bool(self._owners)
        self.open = not self._owners and authenticate is None
        self.secure_cookies = secure_cookies
        key = secret_key or os.environ.get(ENV_SECRET_KEY) or self._derived_key(tokens)
        self._key = key.encode() if isinstance(key, str) else key
        self._sessions = URLSafeTimedSerializer(self._key, salt="underway-session")

    @staticmethod
    def _derived_key(tokens: Mapping[str, str]) -> bytes:
        # Derived from the tokens, sessions survive restarts and agree across processes, and
        # change when a token is revoked; without tokens a fresh key per process is enough.
        if not tokens:
            return secrets.token_bytes(32)
        material = "\0".join(sorted(f"{t}={o}" for t, o in tokens.items()))
        encoded = material.encode("utf-8", "surrogateescape")
        return hashlib.sha256(b"underway-session-key\0" + encoded).digest()

    # -- bearer tokens -------------------------------------------------------------------------

    def owner_of(self, token: str) -> str | None:
        return self._owners.get(_digest(token))

    # -- sessions ------------------------------------------------------------------------------

    def new_session(self, token: str | None = None) -> Session:
        owner = self.owner_of(token) if token else None
        fingerprint = _digest(token)[:32] if token and owner else None
        return Session(secrets.token_urlsafe(18), owner, fingerprint)

    def session(self, request: HTTPConnection) -> Session | None:
        """The request's valid session, or None (missing, forged, expired or revoked)."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self._sessions.loads(raw, max_age=SESSION_MAX_AGE)
            session = Session(str(data["sid"]), data.get("owner"), data.get("fp"))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if session.owner is not None and not self._still_valid(session):
            return None
        return session

    def _still_valid(self, session: Session) -> bool:
        return any(
            digest.startswith(session.fingerprint or "\0") and owner == session.owner
            for digest, owner in self._owners.items()
        )

    def set_session(self, response: Response, request: HTTPConnection, session: Session) -> None:
        value = self._sessions.dumps(
            {"sid": session.sid, "owner": session.owner, "fp": session.fingerprint}
        )
        secure = self.secure_cookies
        if secure is None:
            secure = request.url.scheme == "https"
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=SESSION_MAX_AGE,
            path=request.scope.get("root_path") or "/",
            httponly=True,
            samesite="lax",
            secure=secure,
        )

    def clear_session(self, response: Response, request: HTTPConnection) -> None:
        response.delete_cookie(SESSION_COOKIE, path=request.scope.get("root_path") or "/")

    # -- CSRF ----------------------------------------------------------------------------------

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._key, f"csrf:{session.sid}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        # As bytes: compare_digest refuses non-ASCII text, and a form may carry anything.
        expected = self.csrf_token(session).encode()
        return hmac.compare_digest(expected, token.encode("utf-8", "surrogateescape"))
