"""The dashboard's form actions: sign in and out, cancel, retry, delete, retry all.

Every form carries a CSRF token tied to the session cookie; a form without it is refused. Forms
are parsed here (application/x-www-form-urlencoded) so the dashboard needs no multipart library.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from ..app import Underway
from ..errors import InvalidTransition, JobNotFound
from .access import visible_document
from .auth import Principal
from .context import client_address, context, root
from .dashboard import PageError, Viewer, check_dashboard, render, viewer
from .filters import urlencode

MAX_FIELDS = 20
STALE_FORM = (
    "This form has expired or did not come from this dashboard. "
    "Go back, reload the page and try again (cookies must be enabled)."
)

router = APIRouter(include_in_schema=False)


async def read_form(request: Request) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = (await request.body()).decode("utf-8", "replace")
    try:
        return dict(parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FIELDS))
    except ValueError:
        return {}


def back_to(request: Request, target: str | None, fallback: str, **notice: object) -> Response:
    """A 303 to a path inside this app; anything else (another site, //host) is ignored."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = fallback
    if notice:
        target += ("&" if "?" in target else "?") + urlencode(notice)
    return RedirectResponse(f"{root(request)}{target}", status_code=303)


def anonymous(request: Request) -> Viewer:
    auth = context(request).auth
    session = auth.session(request)
    return Viewer(None, session or auth.new_session(), session is None)


async def checked_form(request: Request, view: Viewer) -> dict[str, str]:
    """The form, once its CSRF token matches the session's."""
    form = await read_form(request)
    if view.fresh or not context(request).auth.csrf_ok(view.session, form.get("csrf")):
        raise PageError(403, STALE_FORM)
    return form


# -- sign in and out -----------------------------------------------------------------------------


def sign_in_page(
    request: Request, view: Viewer, target: str, error: str = "", status_code: int = 401
) -> Response:
    values = {"title": "Sign in", "live_template": "signin.html", "next": target, "error": error}
    return render(request, view, values, status_code if error else 200)


def too_many_sign_ins(request: Request, view: Viewer, target: str, wait: int) -> Response:
    error = f"Too many failed sign-ins from your address. Try again in {wait} s."
    response = sign_in_page(request, view, target, error, 429)
    response.headers["Retry-After"] = str(wait)
    return response


@router.get("/signin")
def sign_in_form(request: Request) -> Response:
    check_dashboard(request)
    target = request.query_params.get("next", "/")
    if context(request).auth.open:
        return back_to(request, target, "/")
    return sign_in_page(request, anonymous(request), target)


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    check_dashboard(request)
    auth = context(request).auth
    view = anonymous(request)
    form = await checked_form(request, view)
    target = form.get("next", "/")
    if auth.open:
        return back_to(request, target, "/")
    throttle, client = context(request).throttle, client_address(request)
    wait = throttle.retry_after(client)
    if wait is not None:
        return too_many_sign_ins(request, view, target, wait)
    token = form.get("token", "").strip()
    if not token or auth.owner_of(token) is None:
        throttle.failed(client)
        return sign_in_page(request, view, target, "That token is not valid.")
    response = back_to(request, target, "/")
    # A fresh session id on sign-in: a session planted before it cannot be ridden after it.
    auth.set_session(response, request, auth.new_session(token))
    return response


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    view = anonymous(request)
    await checked_form(request, view)
    response = back_to(request, "/signin", "/signin", done="signed-out")
    context(request).auth.clear_session(response, request)
    return response


# -- job actions ---------------------------------------------------------------------------------


async def job_action(request: Request, job_id: str, verb: str) -> Response:
    view = viewer(request)
    form = await checked_form(request, view)
    app = context(request).app
    try:
        await run_in_threadpool(visible_document, request, view.who, job_id)
        if verb == "cancel":
            await run_in_threadpool(app.cancel, job_id)
        elif verb == "retry":
            await run_in_threadpool(app.retry, job_id)
        elif not await run_in_threadpool(app.delete, job_id):
            raise InvalidTransition(f"cannot delete job {job_id}: it is processing")
    except (HTTPException, JobNotFound):
        raise PageError(404, f"No job with id {job_id}.") from None
    except InvalidTransition as exc:
        raise PageError(409, f"{exc}.") from None
    done = {"cancel": "cancelled", "retry": "retried", "delete": "deleted"}[verb]
    fallback = "/jobs" if verb == "delete" else f"/jobs/{job_id}"
    return back_to(request, form.get("next"), fallback, done=done)


@router.post("/jobs/{job_id}/cancel")
async def cancel(job_id: str, request: Request) -> Response:
    return await job_action(request, job_id, "cancel")


@router.post("/jobs/{job_id}/retry")
async def retry(job_id: str, request: Request) -> Response:
    return await job_action(request, job_id, "retry")


@router.post("/jobs/{job_id}/delete")
async def delete(job_id: str, request: Request) -> Response:
    return await job_action(request, job_id, "delete")


def retry_every_failed(app: Underway, principal: Principal) -> int:
    """Queue again every failed job the principal may see; return how many."""
    owner = None if principal.is_admin else principal.owner
    retried, cursor = 0, None
    while True:
        documents, cursor = app.list(status="failed", owner=owner, limit=1000, cursor=cursor)
        for document in documents:
            try:
                app.retry(document["job_id"])
                retried += 1
            except (InvalidTransition, JobNotFound):
                continue  # retried or deleted meanwhile, or its unique key is taken again
        if cursor is None:
            return retried


@router.post("/failed/retry-all")
async def retry_all(request: Request) -> Response:
    view = viewer(request)
    form = await checked_form(request, view)
    count = await run_in_threadpool(retry_every_failed, context(request).app, view.who)
    return back_to(request, form.get("next"), "/failed", done="retried-all", n=count)
