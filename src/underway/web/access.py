"""Request-level access decisions: who is asking, and whether they may see a job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from ..validation import text_problem
from .auth import Principal, is_loopback
from .context import client_address, context

SAFE_METHODS = frozenset({"GET", "HEAD"})
OPEN_MODE_REMOTE = (
    "this server has no tokens (UNDERWAY_TOKENS), so it answers requests from this machine only"
)


def local_only(request: HTTPConnection) -> Principal:
    client = request.client
    if not is_loopback(client.host if client else None):
        raise HTTPException(403, OPEN_MODE_REMOTE)
    return Principal(None)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def too_many_failures(retry_after: int) -> HTTPException:
    return HTTPException(
        429,
        f"too many failed token checks from your address: try again in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )


# Stateless; declared once so that /openapi.json lists the bearer scheme on every operation.
bearer_scheme = HTTPBearer(auto_error=False, description="a token from UNDERWAY_TOKENS")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def api_principal(request: HTTPConnection, credentials: Credentials) -> Principal:
    """The API's caller: a bearer token, or the dashboard's session cookie for reads only
    (EventSource cannot send headers). A cookie never authorises a change: no CSRF on /api."""
    auth = context(request).auth
    if auth.open:
        return local_only(request)
    if credentials is not None:
        return bearer_principal(request, credentials.credentials)
    if request.scope.get("method", "GET") in SAFE_METHODS:
        session = auth.session(request)
        if session is not None and session.owner is not None:
            return Principal(session.owner)
    raise unauthorized("missing bearer token: send the header Authorization: Bearer TOKEN")


def bearer_principal(request: HTTPConnection, token: str) -> Principal:
    """The token's owner; 401 for a wrong token, 429 once an address has failed too often."""
    web = context(request)
    client = client_address(request)
    wait = web.throttle.retry_after(client)
    if wait is not None:
        raise too_many_failures(wait)
    owner = web.auth.owner_of(token)
    if owner is None:
        web.throttle.failed(client)
        raise unauthorized("invalid bearer token")
    return Principal(owner)


Caller = Annotated[Principal, Depends(api_principal)]


def admin_principal(principal: Caller) -> Principal:
    if not principal.is_admin:
        raise HTTPException(403, "only an admin token may read server-wide figures")
    return principal


Admin = Annotated[Principal, Depends(admin_principal)]


def not_found(job_id: str) -> HTTPException:
    return HTTPException(404, f"no job with id {job_id}")


def visible_document(request: HTTPConnection, principal: Principal, job_id: str) -> dict[str, Any]:
    """The job's status document, or 404 when it does not exist or belongs to someone else:
    a 403 would confirm that the id exists. An id no backend could store (a NUL character)
    is not looked up: it cannot exist."""
    if text_problem(job_id) is not None:
        raise not_found(job_id)
    document = context(request).app.get(job_id)
    if document is None or not principal.may_see(document["owner"]):
        raise not_found(job_id)
    return document
