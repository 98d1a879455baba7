"""Dashboard pages: server-rendered, readable without JavaScript, kept live by SSE.

Each page is a builder returning its template values; the same builder serves the whole page,
its `?fragment=1` refresh (the 3 s polling fallback) and its `/live/{view}` event stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ..model import Status
from ..validation import text_problem
from . import filters
from .access import local_only, visible_document
from .auth import Principal, Session
from .context import WebContext, context, root
from .events import page_changes, stream
from .summary import overview

HERE = Path(__file__).parent
NO_WORKER_HINT = "underway worker --app yourproject.jobs:app"
NO_DASHBOARD = (
    "This dashboard signs in with a token from UNDERWAY_TOKENS, and this server has none. "
    "Its API answers the users your application signs in."
)
PAGE_SIZE = 50
TRANSIENT_PARAMS = frozenset({"fragment", "done", "n"})
OUTPUT_SHOWN = 200_000  # characters of a job's output on its page: the end of it
NOTICES = {
    "cancelled": "Job cancelled.",
    "retried": "Job queued again.",
    "deleted": "Job deleted.",
    "retried-all": "Failed jobs queued again: {n}.",
    "signed-out": "Signed out.",
}

router = APIRouter(include_in_schema=False)


class SignInRequired(Exception):
    """Raised by pages when nobody is signed in; answered with a redirect to /signin."""


class PageError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class Viewer:
    """Who looks at a page. principal None: nobody signed in yet (the sign-in page)."""

    principal: Principal | None
    session: Session
    fresh: bool  # the session is new and its cookie must be set on the response

    @property
    def who(self) -> Principal:
        if self.principal is None:
            raise SignInRequired
        return self.principal


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(filters.FILTERS)
    return templates


def check_dashboard(request: Request) -> None:
    """403 when nobody could sign in: a server with an authenticate hook and no tokens. The
    hook serves the API only (the dashboard's forms and pages would all have to call it)."""
    auth = context(request).auth
    if not auth.open and not auth.has_tokens:
        raise PageError(403, NO_DASHBOARD)


def viewer(request: Request) -> Viewer:
    check_dashboard(request)
    auth = context(request).auth
    session = auth.session(request)
    if auth.open:
        try:
            principal = local_only(request)
        except HTTPException as exc:
            raise PageError(exc.status_code, str(exc.detail)) from None
    elif session is not None and session.owner is not None:
        principal = Principal(session.owner)
    else:
        raise SignInRequired
    return Viewer(principal, session or auth.new_session(), session is None)


def here(request: Request, path: str | None = None) -> str:
    """This page's path and query relative to where the app is mounted: where a form sends
    the browser back to. Display-only parameters are left out."""
    if path is None:
        path = request.url.path
        base = root(request)
        if base and path.startswith(base):
            path = path[len(base) :] or "/"
    kept = {k: v for k, v in request.query_params.items() if k not in TRANSIENT_PARAMS}
    return f"{path}?{filters.urlencode(kept)}" if kept else path


def base_values(request: Request, view: Viewer | None, path: str | None = None) -> dict[str, Any]:
    web: WebContext = context(request)
    notice = NOTICES.get(request.query_params.get("done", ""), "")
    return {
        "root": root(request),
        "here": here(request, path),
        "viewer": view,
        "owner": view.principal.owner if view and view.principal else None,
        "signed_in": bool(view and view.principal and not web.auth.open),
        "open_mode": web.auth.open,
        "csrf": web.auth.csrf_token(view.session) if view else "",
        "workers_alive": web.app.workers_alive(),
        "no_worker_hint": NO_WORKER_HINT,
        "notice": notice.format(n=notice_count(request.query_params.get("n", ""))),
        "stream": None,
        "fragment": None,
        "controls": None,
        "refresh": False,
    }


def notice_count(text: str) -> int:
    """The count a notice shows; anything but a few ASCII digits is 0: "²" is a digit to
    str.isdigit but not to int(), and int() refuses 5,000 digits."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else 0


def query_value(request: Request, name: str) -> str | None:
    """A filter from the query string, None when empty; 400 for text no backend can compare."""
    value = request.query_params.get(name) or None
    problem = text_problem(value) if value else None
    if problem is not None:
        raise PageError(400, f"The {name} filter {problem}.")
    return value


def render(
    request: Request, view: Viewer | None, values: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    web = context(request)
    everything = {**base_values(request, view), **values}
    partial = request.query_params.get("fragment") == "1"
    template = "live.html" if partial else "base.html"
    response = web.templates.TemplateResponse(request, template, everything, status_code)
    response.headers["Cache-Control"] = "no-store"
    if view is not None and view.fresh:
        web.auth.set_session(response, request, view.session)
    return response


def live_urls(request: Request, view_name: str, path: str) -> dict[str, str]:
    query = request.url.query
    return {
        "stream": f"{root(request)}/live/{view_name}" + (f"?{query}" if query else ""),
        "fragment": f"{root(request)}{path}?" + (f"{query}&" if query else "") + "fragment=1",
    }


# -- page builders -------------------------------------------------------------------------------


def overview_page(request: Request, view: Viewer) -> dict[str, Any]:
    figures = overview(context(request).app, view.who)
    return {"title": "Overview", "nav": "overview", "live_template": "overview.html", **figures}


def jobs_page(request: Request, view: Viewer) -> dict[str, Any]:
    params = request.query_params
    status = params.get("status") or None
    if status not in {None, *(s.value for s in Status)}:
        raise PageError(400, f"unknown status {status!r}")
    owner = view.who.owner if not view.who.is_admin else query_value(request, "owner")
    jobs, next_cursor = context(request).app.list(
        status=status,
        task=query_value(request, "task"),
        queue=query_value(request, "queue"),
        owner=owner,
        limit=PAGE_SIZE,
        cursor=query_value(request, "cursor"),
    )
    return {
        "title": "Jobs",
        "nav": "jobs",
        "live_template": "jobs.html",
        "controls": "jobs_filters.html",
        "jobs": jobs,
        "next_cursor": next_cursor,
        "paged": bool(params.get("cursor")),
        "filters": {k: params.get(k, "") for k in ("status", "task", "queue", "owner", "q")},
        "statuses": [s.value for s in Status],
        "next_query": filters.query_with(params, cursor=next_cursor) if next_cursor else "",
    }


def failed_page(request: Request, view: Viewer) -> dict[str, Any]:
    owner = None if view.who.is_admin else view.who.owner
    cursor = query_value(request, "cursor")
    jobs, next_cursor = context(request).app.list(
        status="failed", owner=owner, limit=PAGE_SIZE, cursor=cursor
    )
    return {
        "title": "Failed jobs",
        "nav": "failed",
        "live_template": "failed.html",
        "jobs": jobs,
        "next_cursor": next_cursor,
    }


PAGES: dict[str, tuple[str, Callable[[Request, Viewer], dict[str, Any]]]] = {
    "overview": ("/", overview_page),
    "jobs": ("/jobs", jobs_page),
    "failed": ("/failed", failed_page),
}


def list_page(request: Request, name: str) -> HTMLResponse:
    path, build = PAGES[name]
    view = viewer(request)
    return render(request, view, {**build(request, view), **live_urls(request, name, path)})


@router.get("/")
def overview_route(request: Request) -> Response:
    return list_page(request, "overview")


@router.get("/jobs")
def jobs_route(request: Request) -> Response:
    wanted = request.query_params.get("q", "").strip()
    if wanted:
        view = viewer(request)
        try:
            visible_document(request, view.who, wanted)
        except HTTPException:
            raise PageError(404, f"No job with id {wanted}.") from None
        return RedirectResponse(f"{root(request)}/jobs/{wanted}", status_code=303)
    return list_page(request, "jobs")


@router.get("/failed")
def failed_route(request: Request) -> Response:
    return list_page(request, "failed")


@router.get("/jobs/{job_id}")
def job_route(job_id: str, request: Request) -> Response:
    view = viewer(request)
    try:
        document = visible_document(request, view.who, job_id)
    except HTTPException:
        raise PageError(404, f"No job with id {job_id}.") from None
    app = context(request).app
    record = app.store.job_get(job_id)
    shown = min(document["output_length"], OUTPUT_SHOWN)
    values = {
        "title": f"{document['task']} {document['status']}",
        "nav": "jobs",
        "live_template": "job.html",
        "job": document,
        "traceback": record.traceback if record else None,
        "output": app.output(job_id, document["output_length"] - shown) if shown else "",
        "timing": filters.timing(record, time.time()) if record else {},
        "finished": Status(document["status"]).finished,
        "refresh": not Status(document["status"]).finished,
    }
    return render(request, view, values)


@router.get("/live/{name}")
def live_route(name: str, request: Request) -> Response:
    if name not in PAGES:
        raise PageError(404, "No such page.")
    view = viewer(request)
    path, build = PAGES[name]
    web = context(request)

    def fragment() -> str:
        values = {**base_values(request, view, path), **build(request, view)}
        return web.templates.get_template("live.html").render(values)

    # The first one is built before the stream starts: a bad filter then answers a 400 page,
    # where inside the stream it could only cut the connection.
    first = [fragment()]

    def fragments() -> str:
        return first.pop() if first else fragment()

    return stream(page_changes(request, fragments))


ERROR_TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Cannot do that"}


def error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    try:
        view: Viewer | None = viewer(request)
    except (PageError, SignInRequired):
        view = None
    title = ERROR_TITLES.get(exc.status_code, "Error")
    values = {"title": title, "live_template": "error.html", "message": exc.message}
    return render(request, view, values, exc.status_code)


def sign_in_redirect(request: Request, exc: Exception) -> Response:
    target = here(request)
    query = "" if target == "/" else "?" + filters.urlencode({"next": target})
    return RedirectResponse(f"{root(request)}/signin{query}", status_code=303)
