"""Request-level access decisions: who is asking, and whether they may see a job."""

from __future__ import annotations

import inspect
import logging
from typing import Annotated, Any

from anyio import to_thread
from fastapi import Depends, HTTPException, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection, Request

from .. import viewlinks
from ..validation import text_problem
from .auth import Authenticate, Principal, is_loopback
from .context import client_address, context

log = logging.getLogger("underway.web")

SAFE_METHODS = frozenset({"GET", "HEAD"})
OPEN_MODE_REMOTE = (
    "this server has no tokens (UNDERWAY_TOKENS), so it answers requests from this machine only"
)
AUTHENTICATION_FAILED = "authentication failed"
CROSS_SITE_CHANGE = "a change sent from another site is refused: send it from this site's pages"


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


async def api_principal(request: Request, credentials: Credentials) -> Principal:
    """The API's caller: a bearer token; else, for reads only, the dashboard's session cookie
    (EventSource cannot send headers; that cookie never authorises a change: no CSRF on /api);
    else the owner the host application's authenticate hook names, for a change only when the
    browser does not say another site sent it."""
    auth = context(request).auth
    if auth.open:
        return local_only(request)
    if credentials is not None:
        return bearer_principal(request, credentials.credentials)
    if request.scope.get("method", "GET") in SAFE_METHODS:
        session = auth.session(request)
        if session is not None and session.owner is not None:
            return Principal(session.owner)
    if auth.authenticate is not None:
        owner = await hook_owner(request, auth.authenticate)
        if owner is None:
            raise unauthorized("not signed in, and no bearer token (Authorization: Bearer TOKEN)")
        if request.scope.get("method") not in SAFE_METHODS and cross_site(request):
            raise HTTPException(403, CROSS_SITE_CHANGE)
        return Principal(owner)
    raise unauthorized("missing bearer token: send the header Authorization: Bearer TOKEN")


def cross_site(request: Request) -> bool:
    """True when the browser says another site sent this request. The hook may have read a
    cookie the browser adds to whatever a page asks for; a change it authorises must come from
    this site (CSRF). Clients that are not browsers send no Sec-Fetch-Site."""
    return request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}


async def hook_owner(request: Request, hook: Authenticate) -> str | None:
    """The owner the hook names for this request, None for anonymous (None or ""). A hook that
    raises, or answers anything but text an owner can be, is logged and answered 401."""
    try:
        if inspect.iscoroutinefunction(hook):
            answer: object = await hook(request)
        else:  # it may block; an object with an async __call__ returns an awaitable here
            answer = await to_thread.run_sync(hook, request)
            if inspect.isawaitable(answer):
                answer = await answer
    except Exception:
        log.exception("the authenticate hook raised: answered 401")
        raise unauthorized(AUTHENTICATION_FAILED) from None
    if answer is None or answer == "":
        return None
    if not isinstance(answer, str) or text_problem(answer) is not None:
        log.error("the authenticate hook answered a %s, not an owner: 401", type(answer).__name__)
        raise unauthorized(AUTHENTICATION_FAILED)
    return answer


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

ViewToken = Annotated[
    str | None,
    Query(description="a view link's token (Underway.view_token): reads this one job only"),
]


async def job_reader(
    request: Request, job_id: str, credentials: Credentials, view: ViewToken = None
) -> Principal:
    """Who reads one job: a view link's holder when ?view= is given, whatever else is sent,
    else the API's caller. A view token that is not valid for this job now is a 404, as a job
    that does not exist: a 401 would confirm the id."""
    if view is None:
        return await api_principal(request, credentials)
    web = context(request)
    if web.auth.open:
        local_only(request)
    if web.view_key is None or not viewlinks.verify(web.view_key, job_id, view):
        raise not_found(job_id)
    return Principal(None, job_id=job_id)


Reader = Annotated[Principal, Depends(job_reader)]


def admin_principal(principal: Caller) -> Principal:
    if not principal.is_admin:
        raise HTTPException(403, "only an admin token may read server-wide figures")
    return principal


Admin = Annotated[Principal, Depends(admin_principal)]


def not_found(job_id: str) -> HTTPException:
    return HTTPException(404, f"no job with id {job_id}")


def visible_document(request: HTTPConnection, principal: Principal, job_id: str) -> dict[str, Any]:
    """The job's status document, or 404 when it does not exist or belongs to someone else:
    a 403 would confirm that the id exists. (app.get answers None, without a lookup, for an
    id no backend could store.)"""
    document = context(request).app.get(job_id)
    if document is None or not principal.may_see(document["owner"], job_id):
        raise not_found(job_id)
    return document
