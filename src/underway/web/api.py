"""/api/jobs and friends: dispatch, read, list, cancel, retry, delete, stats."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from ..app import NO_WORKER_WARNING
from ..errors import InvalidTransition, JobNotFound
from ..job import OUTPUT_LIMIT
from ..model import Status
from . import schemas
from .access import Admin, Caller, Reader, not_found, visible_document
from .auth import Principal
from .context import context
from .documents import DocumentResponse
from .summary import server_stats

# Characters of output one read returns unless it asks for fewer or more (up to OUTPUT_LIMIT).
OUTPUT_READ_DEFAULT = 65536
NO_WORKER_HINT = "start one with `underway worker --app module:app` or `underway serve --workers N`"

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.Problem, "description": "the body cannot be read as JSON text"},
    401: {"model": schemas.Problem, "description": "not signed in, or an invalid bearer token"},
    403: {"model": schemas.Problem, "description": "not allowed from here, or not an admin"},
    404: {
        "model": schemas.Problem,
        "description": "no such job, not yours, or a view token not valid for it",
    },
    409: {"model": schemas.Problem, "description": "the job is not in a state that allows this"},
    413: {"model": schemas.Problem, "description": "request body over the size limit"},
    429: {
        "model": schemas.Problem,
        "description": "too many wrong tokens from this address: wait Retry-After seconds",
    },
}

router = APIRouter(
    prefix="/api",
    tags=["jobs"],
    responses={401: ERRORS[401], 403: ERRORS[403], 429: ERRORS[429]},
)

# A list filter: text any backend can compare (PostgreSQL refuses NUL in text), else 422.
Filter = Annotated[str | None, AfterValidator(schemas.storable)]


def field_error(field: str, message: str, value: Any) -> RequestValidationError:
    """A 422 in FastAPI's own shape, naming the field."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}]
    )


def scoped_unique_key(principal: Principal, key: str | None) -> str | None:
    """The key as stored: per owner, so that another owner's key neither blocks a dispatch nor
    reveals a job id. The owner's length leads, so no two (owner, key) pairs give one string
    (a separator alone could appear inside an owner); every backend can store it as text."""
    if key is None or principal.owner is None:
        return key
    return f"{len(principal.owner)}:{principal.owner}:{key}"


@router.post(
    "/jobs",
    status_code=202,
    response_model=schemas.DispatchResponse,
    response_model_exclude_none=True,
    responses={400: ERRORS[400], 413: ERRORS[413]},
    summary="Queue a job",
)
def dispatch(body: schemas.DispatchRequest, request: Request, principal: Caller) -> dict[str, Any]:
    app = context(request).app
    if body.task not in app.tasks:
        known = ", ".join(sorted(app.tasks)) or "none"
        raise field_error("task", f"no task named {body.task!r} (known: {known})", body.task)
    try:
        job_id = app.dispatch(
            body.task,
            body.args,
            queue=body.queue,
            priority=body.priority,
            delay=body.delay,
            owner=principal.owner,
            unique_key=scoped_unique_key(principal, body.unique_key),
        )
    except (TypeError, ValueError) as exc:
        raise field_error("args", str(exc), body.args) from None
    document = app.get(job_id) or {"status": Status.PENDING.value}
    answer = {"job_id": job_id, "status": document["status"], "message": f"job {job_id} queued"}
    if document.get("warning"):
        answer["warning"] = document["warning"]
        answer["message"] += f", but {NO_WORKER_WARNING}: {NO_WORKER_HINT}"
    return answer


@router.get(
    "/jobs",
    response_model=schemas.JobList,
    response_model_exclude_unset=True,
    summary="List jobs, newest first",
)
def list_jobs(
    request: Request,
    principal: Caller,
    status: Status | None = None,
    task: Annotated[Filter, Query(max_length=200)] = None,
    queue: Annotated[Filter, Query(max_length=200)] = None,
    owner: Annotated[
        Filter, Query(max_length=200, description="admin only: one owner's jobs")
    ] = None,
    limit: int = Query(50, ge=1, le=1000),
    cursor: Annotated[
        Filter, Query(max_length=64, description="next_cursor of the last page")
    ] = None,
) -> DocumentResponse:
    if not principal.is_admin:
        owner = principal.owner
    documents, next_cursor = context(request).app.list(
        status=status, task=task, queue=queue, owner=owner, limit=limit, cursor=cursor
    )
    return DocumentResponse({"jobs": documents, "next_cursor": next_cursor})


@router.get(
    "/jobs/{job_id}",
    response_model=schemas.StatusDocument,
    response_model_exclude_unset=True,
    responses={404: ERRORS[404]},
    summary="One job's status document",
)
def get_job(job_id: str, request: Request, principal: Reader) -> DocumentResponse:
    return DocumentResponse(visible_document(request, principal, job_id))


@router.get(
    "/jobs/{job_id}/output",
    response_model=schemas.JobOutput,
    responses={404: ERRORS[404]},
    summary="A job's live output, from a character offset",
)
def get_output(
    job_id: str,
    request: Request,
    principal: Reader,
    offset: int = Query(0, ge=0, description="characters to skip: how many the client holds"),
    limit: int = Query(
        OUTPUT_READ_DEFAULT, ge=0, le=OUTPUT_LIMIT, description="at most this many characters"
    ),
) -> dict[str, Any]:
    visible_document(request, principal, job_id)
    found = context(request).app.store.job_output(job_id, offset, limit)
    if found is None:  # deleted since
        raise not_found(job_id)
    text, length = found
    return {"job_id": job_id, "offset": offset, "text": text, "output_length": length}


def _transition(request: Request, principal: Principal, job_id: str, verb: str) -> DocumentResponse:
    visible_document(request, principal, job_id)
    app = context(request).app
    try:
        return DocumentResponse(app.cancel(job_id) if verb == "cancel" else app.retry(job_id))
    except JobNotFound:
        raise not_found(job_id) from None
    except InvalidTransition as exc:
        raise HTTPException(409, str(exc)) from None


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=schemas.StatusDocument,
    response_model_exclude_unset=True,
    responses={404: ERRORS[404], 409: ERRORS[409]},
    summary="Cancel a pending or processing job",
)
def cancel_job(job_id: str, request: Request, principal: Caller) -> DocumentResponse:
    return _transition(request, principal, job_id, "cancel")


@router.post(
    "/jobs/{job_id}/retry",
    response_model=schemas.StatusDocument,
    response_model_exclude_unset=True,
    responses={404: ERRORS[404], 409: ERRORS[409]},
    summary="Queue a failed or cancelled job again",
)
def retry_job(job_id: str, request: Request, principal: Caller) -> DocumentResponse:
    return _transition(request, principal, job_id, "retry")


@router.delete(
    "/jobs/{job_id}",
    response_model=schemas.Deleted,
    responses={404: ERRORS[404], 409: ERRORS[409]},
    summary="Delete a job that is not processing",
)
def delete_job(job_id: str, request: Request, principal: Caller) -> dict[str, Any]:
    document = visible_document(request, principal, job_id)
    if document["status"] == Status.PROCESSING.value:
        raise HTTPException(409, f"cannot delete job {job_id}: it is processing; cancel it first")
    if not context(request).app.delete(job_id):
        raise HTTPException(409, f"cannot delete job {job_id}: it started processing")
    return {"job_id": job_id, "deleted": True}


@router.get(
    "/stats",
    response_model=schemas.Stats,
    tags=["operations"],
    summary="Counts per queue and status, throughput, workers alive (admin)",
)
def stats(request: Request, _: Admin) -> dict[str, Any]:
    return server_stats(context(request).app)
