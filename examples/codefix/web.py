"""Fix All pages: pick issues, start one job, watch it in underway's progress widget."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from examples.jobs import app as jobs
from examples.settings import app_database
from examples.web_common import ai_mode, check_csrf, csrf_token, templates

from .issues import IssueRepository
from .tasks import MAX_ISSUES_PER_JOB, fix_all

router = APIRouter()


def selection_key(issue_ids: list[int]) -> str:
    """The same selection submitted twice (a double click) maps to one job."""
    digest = hashlib.sha256(",".join(map(str, sorted(issue_ids))).encode()).hexdigest()[:24]
    return f"fix-all:{digest}"


def fix_all_document(job_id: str) -> dict[str, Any]:
    document = jobs.get(job_id)
    if document is None or document["task"] != fix_all.name:
        raise HTTPException(404, f"no Fix All job {job_id}")
    return document


@router.get("/fix-all", response_class=HTMLResponse)
def issues_page(request: Request, error: str | None = None) -> Response:
    repository = IssueRepository(app_database())
    issues = repository.all()
    context = {
        "issues": [i for i in issues if i.status == "open"],
        "fixed": sum(1 for i in issues if i.status == "fixed"),
        "failed": sum(1 for i in issues if i.status == "failed"),
        "limit": MAX_ISSUES_PER_JOB,
        "csrf": csrf_token(request),
        "error": error,
        **ai_mode(),
        "recent": jobs.list(task=fix_all.name, limit=5)[0],
    }
    status = 422 if error else 200
    return templates.TemplateResponse(request, "fix_all.html", context, status_code=status)


@router.post("/fix-all")
def start_fix_all(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    issue_ids: Annotated[list[int] | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf)
    chosen = sorted(set(issue_ids or []))
    if not chosen:
        return issues_page(request, error="Pick at least one issue.")
    if len(chosen) > MAX_ISSUES_PER_JOB:
        return issues_page(
            request,
            error=f"You picked {len(chosen)} issues; one Fix All job takes at most "
            f"{MAX_ISSUES_PER_JOB}. Untick some and press Fix All again.",
        )
    job_id = jobs.dispatch(fix_all, {"issue_ids": chosen}, unique_key=selection_key(chosen))
    return RedirectResponse(f"/fix-all/{job_id}", status_code=303)


@router.get("/fix-all/{job_id}", response_class=HTMLResponse)
def progress_page(request: Request, job_id: str) -> Response:
    """The job in underway's progress widget. Fix All needs no sign-in, so the page hands the
    widget a view link: it reads this one job, and nothing else, for an hour."""
    document = fix_all_document(job_id)
    context = {"job": document, "view": jobs.view_token(job_id), **ai_mode()}
    return templates.TemplateResponse(request, "fix_all_progress.html", context)
