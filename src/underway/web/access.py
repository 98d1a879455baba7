"""Request-level access decisions: who is asking, and whether they may see a job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from .auth import Principal, is_loopback
from .context import context

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
        owner = auth.owner_of(credentials.credentials)
        if owner is None:
            raise unauthorized("invalid bearer token")
        return Principal(owner)
    if request.scope.get("method", "GET") in SAFE_METHODS:
        session = auth.session(request)
        if session is not None and session.owner is not None:
            return Principal(session.owner)
    raise unauthorized("missing bearer token: send the header Authorization: Bearer TOKEN")


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
    a 403 would confirm that the id exists."""
    document = context(request).app.get(job_id)
    if document is None or not principal.may_see(document["owner"]):
        raise not_found(job_id)
    return document
