"""underway.web: the HTTP API, Server-Sent Events and the dashboard, as one ASGI app.

from underway.web import create_app
main.mount("/jobs", create_app(app))   # inside your FastAPI or Starlette application
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.staticfiles import StaticFiles

from .. import viewlinks
from ..app import Underway
from . import actions, api, dashboard, events, metrics, problems
from .auth import Auth, Authenticate, load_tokens
from .context import WebContext
from .hub import Hub
from .limits import BodyLimit, SecurityHeaders, ServerErrors
from .throttle import DEFAULT_MAX_FAILURES, DEFAULT_WINDOW_SECONDS, Throttle

__all__ = ["create_app"]

DEFAULT_MAX_BODY_BYTES = 1 << 20


def create_app(
    app: Underway,
    *,
    tokens: str | Mapping[str, str] | None = None,
    authenticate: Authenticate | None = None,
    secret_key: str | bytes | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    poll_interval: float = 0.1,
    keepalive_interval: float = 15.0,
    secure_cookies: bool | None = None,
    failed_auth_limit: int = DEFAULT_MAX_FAILURES,
    failed_auth_window: float = DEFAULT_WINDOW_SECONDS,
) -> FastAPI:
    """The API, event streams and dashboard for app's jobs, as an ASGI application.

    tokens: {token: owner}, "token=owner,..." text or the path of a file of such lines; None
    reads UNDERWAY_TOKENS. Without any (and no authenticate), only clients on this machine are
    served. The owner "admin" sees every job; any other owner only its own.
    authenticate(request): the owner of an API request by your application's session, cookie
    or header, None for anonymous (401); a def runs in a thread. Bearer tokens win over it, for
    reads so does a dashboard session; if it raises: 401. The dashboard signs in with tokens
    only: with a hook and no tokens it is off (403).
    secret_key signs dashboard sessions (default app.secret_key, else UNDERWAY_SECRET_KEY, else
    derived from the tokens) and checks view links (Underway.view_token: the same key as the
    process that makes them; with no key set, no link is valid).
    poll_interval: how often the shared watcher of the jobs that streams follow asks the store
    what changed (on PostgreSQL also as soon as a notification arrives). keepalive_interval:
    seconds of silence before a stream sends a comment. secure_cookies: None sets the cookie's
    Secure flag on https requests only.
    failed_auth_limit: wrong tokens (bearer or sign-in) a client address may send within
    failed_auth_window seconds; after that it is answered 429 until the window passes. 0: no
    limit.
    """
    check_options(poll_interval, keepalive_interval, max_body_bytes, failed_auth_limit)
    if failed_auth_window <= 0:
        raise ValueError("failed_auth_window must be positive")
    if authenticate is not None and not callable(authenticate):
        raise TypeError("authenticate must be a function of the request")
    secret_key = secret_key or app.secret_key
    web = FastAPI(
        title="underway",
        summary="Durable background jobs: dispatch, follow and operate them.",
        version="1",
        docs_url=None,  # Swagger UI loads its code from a CDN; pages here load nothing remote
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    web.state.underway = WebContext(
        app=app,
        auth=Auth(load_tokens(tokens), secret_key, secure_cookies, authenticate),
        templates=dashboard.make_templates(),
        poll_interval=poll_interval,
        keepalive_interval=keepalive_interval,
        throttle=Throttle(failed_auth_limit, failed_auth_window),
        hub=Hub(app, poll_interval),
        view_key=viewlinks.secret_key(secret_key),
    )
    assemble(web, max_body_bytes)
    web.openapi = listing_tasks(web.openapi, app)  # type: ignore[method-assign]
    return web


def assemble(web: FastAPI, max_body_bytes: int) -> None:
    """Routes, static files, error handlers and middleware."""
    for router in (api.router, events.router, metrics.router, actions.router, dashboard.router):
        web.include_router(router)
    web.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    web.add_exception_handler(RequestValidationError, problems.validation_error)
    web.add_exception_handler(dashboard.PageError, dashboard.error_page)
    web.add_exception_handler(dashboard.SignInRequired, dashboard.sign_in_redirect)
    # The last added runs first: headers on every answer, unexpected errors answered inside.
    web.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    web.add_middleware(ServerErrors)
    web.add_middleware(SecurityHeaders)


def check_options(poll: float, keepalive: float, max_body_bytes: int, failures: int) -> None:
    if poll <= 0 or keepalive <= 0 or max_body_bytes < 0:
        raise ValueError(
            "poll_interval and keepalive_interval must be positive, max_body_bytes not negative"
        )
    if failures < 0:
        raise ValueError("failed_auth_limit must not be negative")


def listing_tasks(generate: Callable[[], dict[str, Any]], app: Underway) -> Callable[[], Any]:
    """/openapi.json names the tasks that can be dispatched, as registered when it is read."""

    def openapi() -> dict[str, Any]:
        schema = generate()
        task = schema["components"]["schemas"]["DispatchRequest"]["properties"]["task"]
        names = sorted(app.tasks)
        if names:
            task["enum"] = names
        else:
            task.pop("enum", None)
        return schema

    return openapi
