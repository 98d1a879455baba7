"""Request and response models: they validate input and make /openapi.json accurate."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from .. import codec
from ..model import Status
from ..validation import MAX_DELAY_SECONDS, MAX_PRIORITY, MIN_PRIORITY, text_problem


def storable(text: str | None) -> str | None:
    # JSON may carry lone surrogates ("\ud800") and NUL ("\u0000"), which some or all
    # databases cannot store as text: refused here, on every backend alike.
    if text is not None:
        problem = text_problem(text)
        if problem is not None:
            raise ValueError(problem)
    return text


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(storable)]


class DispatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"task": "reports.generate", "args": {"entry_ids": [1]}}]},
    )

    task: Name = Field(description="name of a registered task")
    args: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments of the task, a JSON object"
    )
    queue: Name | None = Field(None, description="default: the task's queue")
    priority: int | None = Field(
        None, ge=MIN_PRIORITY, le=MAX_PRIORITY, description="higher runs first"
    )
    delay: float | None = Field(
        None,
        ge=0,
        le=MAX_DELAY_SECONDS,
        allow_inf_nan=False,
        description="seconds to wait (at most ten years)",
    )
    unique_key: Name | None = Field(
        None,
        description="while a job of yours with this key is pending or processing, "
        "dispatching again returns that job instead of queueing another",
    )

    @field_validator("args")
    @classmethod
    def _plain_json(cls, args: dict[str, Any]) -> dict[str, Any]:
        try:
            codec.dumps(args).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"must be plain JSON (no NaN, no lone surrogates): {exc}") from None
        return args


class DispatchResponse(BaseModel):
    job_id: str
    status: Status
    message: str
    warning: str | None = Field(None, description="present when no worker is running")


class Progress(BaseModel):
    total: int | None
    processed: int
    percent: float | None
    current: str | None
    rate_per_s: float | None = Field(
        None, description="items per second as the running attempt last measured; null: unknown"
    )
    eta_s: float | None = Field(
        None,
        description="seconds left at that rate while processing with a known total; else null",
    )


class StatusDocument(BaseModel):
    """One job, in the same shape as Underway.get() and `underway status --json`."""

    model_config = ConfigDict(extra="allow")

    job_id: str
    task: str
    queue: str
    status: Status
    priority: int
    owner: str | None
    args: dict[str, Any]
    progress: Progress
    output_length: int = Field(0, description="characters of live output stored so far")
    results: list[dict[str, Any]]
    errors: list[str]
    usage: dict[str, float]
    result: Any
    error: str | None
    attempts: int
    max_attempts: int
    created_at: str
    available_at: str
    started_at: str | None
    completed_at: str | None
    warning: str | None = Field(
        None, description="pending job and no worker alive: 'no worker is running'"
    )


class JobOutput(BaseModel):
    """A piece of a job's live output (job.stream); offsets count characters (code points)."""

    job_id: str
    offset: int = Field(description="where text starts in the output, as asked")
    text: str = Field(description="at most limit characters from offset; empty past the end")
    output_length: int = Field(description="characters of output the job has stored so far")


class JobList(BaseModel):
    jobs: list[StatusDocument] = Field(description="newest first; results and errors left out")
    next_cursor: str | None = Field(description="pass as cursor for the next page; null: last")


class Deleted(BaseModel):
    job_id: str
    deleted: bool


class Worker(BaseModel):
    id: str
    hostname: str
    pid: int
    queues: list[str]
    processes: int
    concurrency: int
    started_at: float
    last_seen_at: float
    lease_seconds: float
    running: int


class Minute(BaseModel):
    minute: str
    completed: int
    failed: int


class Stats(BaseModel):
    queues: dict[str, dict[str, int]] = Field(description="job counts per queue and status")
    completed_last_minute: int
    failed_last_minute: int
    throughput: list[Minute] = Field(description="finished jobs per minute, oldest first")
    workers_alive: int
    workers: list[Worker]


class Health(BaseModel):
    status: str
    database: str
    workers_alive: int | None = None


class Problem(BaseModel):
    detail: str
