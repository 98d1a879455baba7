"""/healthz for load balancers and /metrics in Prometheus' text format."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, PlainTextResponse

from ..model import Status
from . import schemas
from .access import Admin
from .api import ERRORS
from .context import context
from .hub import Hub
from .summary import durations, finished_sample, server_stats

log = logging.getLogger("underway.web")
QUANTILES = (0.5, 0.9, 0.99)
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=schemas.Health,
    response_model_exclude_none=True,
    responses={503: {"model": schemas.Health, "description": "the database cannot be read"}},
    summary="Liveness and database check (no token needed)",
)
def healthz(request: Request) -> Any:
    try:
        workers = context(request).app.workers_alive()
    except Exception as exc:
        # Whatever the database raised, a health check answers; the cause goes to the log only.
        log.warning("health check: database unreachable (%s)", type(exc).__name__)
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return {"status": "ok", "database": "ok", "workers_alive": workers}


def json_problem(description: str) -> dict[str, Any]:
    # Spelled out: on a text/plain route FastAPI would document a model's body as text/plain.
    schema = schemas.Problem.model_json_schema()
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(
    name: str, kind: str, help_text: str, samples: Sequence[tuple[str, float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)
    return lines


def _quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def stream_metrics(hub: Hub) -> list[str]:
    return [
        *_family(
            "underway_stream_store_reads_total",
            "counter",
            "Store reads made to feed job event streams (one shared watcher per job).",
            [("", hub.reads.count)],
        ),
        *_family(
            "underway_stream_jobs_followed",
            "gauge",
            "Jobs with an open event stream.",
            [("", hub.jobs_followed)],
        ),
        *_family(
            "underway_stream_connections", "gauge", "Open job event streams.", [("", hub.streams)]
        ),
    ]


def render_metrics(stats: dict[str, Any], run_times: dict[str, list[float]]) -> str:
    queues = stats["queues"]
    jobs = [
        (f'{{queue="{_label(q)}",status="{s.value}"}}', counts.get(s.value, 0))
        for q, counts in sorted(queues.items())
        for s in Status
    ]
    depth = [(f'{{queue="{_label(q)}"}}', c.get("pending", 0)) for q, c in sorted(queues.items())]
    finished = [
        ('{status="completed"}', stats["completed_last_minute"]),
        ('{status="failed"}', stats["failed_last_minute"]),
    ]
    quantiles = [
        (f'{{task="{_label(task)}",quantile="{q}"}}', _quantile(sorted(values), q))
        for task, values in sorted(run_times.items())
        for q in QUANTILES
    ]
    counts = [(f'{{task="{_label(t)}"}}', len(v)) for t, v in sorted(run_times.items())]
    lines = [
        *_family("underway_jobs", "gauge", "Jobs by queue and status.", jobs),
        *_family("underway_queue_depth", "gauge", "Pending jobs per queue.", depth),
        *_family(
            "underway_workers_alive",
            "gauge",
            "Workers with a recent heartbeat.",
            [("", stats["workers_alive"])],
        ),
        *_family(
            "underway_jobs_finished_last_minute",
            "gauge",
            "Jobs that ended in the last 60 s.",
            finished,
        ),
        *_family(
            "underway_recent_job_duration_seconds",
            "gauge",
            "Run time quantiles of the newest completed jobs, per task.",
            quantiles,
        ),
        *_family(
            "underway_recent_job_duration_samples",
            "gauge",
            "How many completed jobs the run time quantiles are taken over.",
            counts,
        ),
    ]
    return "\n".join(lines) + "\n"


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **{code: json_problem(ERRORS[code]["description"]) for code in (401, 403, 429)},
    },
    summary="Prometheus metrics (admin)",
)
def metrics(request: Request, _: Admin) -> PlainTextResponse:
    web = context(request)
    text = render_metrics(server_stats(web.app), durations(finished_sample(web.app)))
    text += "\n".join(stream_metrics(web.hub)) + "\n"
    return PlainTextResponse(text, media_type=PROMETHEUS_TYPE)
