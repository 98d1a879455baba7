"""Report pages and the source system's JSON API: generate, then poll /reports/job/{id}.

The page itself polls nothing: it shows the job in underway's progress widget."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markdown_it import MarkdownIt
from pydantic import BaseModel, Field

from examples.jobs import app as jobs
from examples.settings import app_database
from examples.web_common import ai_mode, check_csrf, csrf_token, templates

from .entries import USERS, EntryRepository
from .tasks import generate

router = APIRouter()
# Raw HTML in a report (from a model or an entry) is escaped, never rendered.
markdown = MarkdownIt("commonmark", {"html": False})


class GenerateRequest(BaseModel):
    entry_ids: list[int] = Field(min_length=1, max_length=100)


def current_user(request: Request) -> str | None:
    user = request.session.get("user")
    return user if user in USERS else None


def signed_in(request: Request) -> str:
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "sign in first: /demo/sign-in")
    return user


def owned_document(request: Request, job_id: str) -> dict[str, Any]:
    """The job's document if it is this user's report job; 404 otherwise (never 403)."""
    user = signed_in(request)
    document = jobs.get(job_id)
    if document is None or document["task"] != generate.name or document["owner"] != user:
        raise HTTPException(404, "report job not found")
    return document


@router.get("/demo/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request) -> Response:
    context = {"users": USERS, "user": current_user(request), "csrf": csrf_token(request)}
    return templates.TemplateResponse(request, "sign_in.html", context)


@router.post("/demo/sign-in")
def sign_in(
    request: Request, user: Annotated[str, Form()], csrf: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(request, csrf)
    if user not in USERS:
        raise HTTPException(422, f"unknown demo user {user!r}")
    request.session["user"] = user
    return RedirectResponse("/reports", status_code=303)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, job: str | None = None) -> Response:
    """The entries and the button; with ?job= that report job in underway's progress widget,
    the report growing in it as it is written (the widget follows it as the signed-in user)."""
    user = current_user(request)
    if user is None:
        return RedirectResponse("/demo/sign-in", status_code=303)
    document = owned_document(request, job) if job else None
    report = None
    if document is not None and document["status"] == "completed":
        report = rendered(document["result"])
    context = {
        "user": user,
        "entries": EntryRepository(app_database()).for_user(user),
        "job": document,
        "report": report,
        **ai_mode(),
    }
    return templates.TemplateResponse(request, "reports.html", context)


@router.post("/reports/generate", status_code=202)
def start_report(request: Request, body: GenerateRequest) -> dict[str, Any]:
    user = signed_in(request)
    try:
        EntryRepository(app_database()).owned(user, body.entry_ids)
    except LookupError as exc:
        raise HTTPException(422, str(exc)) from None
    job_id = jobs.dispatch(generate, {"user_id": user, "entry_ids": body.entry_ids}, owner=user)
    return {
        "job_id": job_id,
        "status": "pending",
        "message": "Report generation started in background",
    }


@router.get("/reports/job/{job_id}")
def report_status(request: Request, job_id: str) -> dict[str, Any]:
    """The source system's shapes: status only while waiting; the report or the error at the end."""
    document = owned_document(request, job_id)
    answer: dict[str, Any] = {"job_id": job_id, "status": document["status"]}
    if document["status"] == "completed":
        answer["report"] = document["result"]["report"]
        answer["period"] = document["result"]["period"]
    elif document["status"] == "failed":
        answer["error"] = document["error"]
    return answer


@router.get("/reports/job/{job_id}/html", response_class=HTMLResponse)
def report_html(request: Request, job_id: str) -> str:
    """The finished report rendered from Markdown, safely escaped, for the page to show."""
    document = owned_document(request, job_id)
    if document["status"] != "completed":
        raise HTTPException(409, f"the report is {document['status']}, not completed")
    return rendered(document["result"])


def rendered(result: dict[str, Any]) -> str:
    """A finished report's HTML: its Markdown with raw HTML escaped, after a note if offline."""
    note = '<p class="offline">Written offline, without an AI model.</p>'
    html: str = markdown.render(str(result["report"]))
    return (note if result["offline"] else "") + html
