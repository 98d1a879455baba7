"""Thin click commands over the library. User mistakes exit 1 with one line, never a traceback."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import codec
from .app import Underway
from .errors import ConfigurationError, JobNotFound, UnderwayError
from .loader import load_app
from .model import Status
from .settings import ENV_APP, ENV_DATABASE_URL

console = Console(highlight=False)
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
SECONDS_PER_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
STATUS_STYLE = {
    "pending": "yellow",
    "processing": "cyan",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
}


class FriendlyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (UnderwayError, ValueError, TypeError, TimeoutError) as exc:
            raise click.ClickException(str(exc)) from None


def parse_duration(text: str) -> float:
    match = DURATION.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration such as 30s, 15m, 12h or 7d")
    return float(match.group(1)) * SECONDS_PER_UNIT[match.group(2)]


def common(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--app", "app_spec", envvar=ENV_APP, help="module:attribute of your Underway object"
    )(fn)
    return click.option("--database-url", help="overrides the app's and UNDERWAY_DATABASE_URL")(fn)


def open_app(app_spec: str | None, database_url: str | None) -> Underway:
    if database_url:
        # Child processes and the app's own Underway() read the same URL.
        os.environ[ENV_DATABASE_URL] = database_url
    if not app_spec:
        return Underway(database_url)
    app = load_app(app_spec)
    if database_url and database_url != app.database_url:
        app.use_database(database_url)
    return app


def get_document(app: Underway, job_id: str) -> dict[str, Any]:
    document = app.get(job_id)
    if document is None:
        raise JobNotFound(f"no job with id {job_id} in {app.store.url}")
    return document


@click.group(cls=FriendlyGroup)
@click.version_option(package_name="underway")
def main() -> None:
    """underway: durable background jobs with progress you can watch."""


@main.command()
@common
@click.option(
    "--queue",
    "queues",
    multiple=True,
    help="queue to take jobs from, in priority order (repeatable; default all)",
)
@click.option(
    "--processes", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="slots per process",
)
@click.option("--timeout", type=float, help="seconds, for tasks that set none")
@click.option("--tries", type=click.IntRange(min=1), help="give every job at least this many tries")
@click.option("--memory", type=float, help="replace a child process whose RSS passes this many MB")
@click.option("--max-jobs", type=click.IntRange(min=1), help="exit after this many jobs")
@click.option("--max-time", type=float, help="exit after this many seconds")
@click.option(
    "--sleep", type=float, default=1.0, show_default=True, help="seconds between idle polls"
)
@click.option(
    "--grace",
    type=float,
    default=30.0,
    show_default=True,
    help="seconds running jobs get to finish on SIGTERM",
)
@click.option(
    "--lease",
    type=float,
    default=30.0,
    show_default=True,
    help="seconds a job stays claimed without a heartbeat",
)
@click.option("--burst", is_flag=True, help="exit 0 once no job is ready")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    help="info: a line per finished job; debug: also one per start",
)
def worker(
    app_spec: str | None,
    database_url: str | None,
    queues: tuple[str, ...],
    log_level: str,
    **options: Any,
) -> None:
    """Run jobs: a supervisor with child processes."""
    from .worker import Supervisor, WorkerConfig, logs

    if not app_spec:
        raise ConfigurationError(
            "the worker needs your tasks: pass --app module:attribute or set UNDERWAY_APP"
        )
    logs.configure(log_level)
    app = open_app(app_spec, database_url)
    config = WorkerConfig(
        app_spec=app_spec,
        queues=queues,
        memory_mb=options.pop("memory"),
        **options,
    )
    sys.exit(Supervisor(app, config).run())


@main.command()
@common
@click.argument("task")
@click.option("--args", "args_json", default="{}", help="keyword arguments as a JSON object")
@click.option("--queue")
@click.option("--priority", type=int)
@click.option("--delay", type=float, help="seconds before the job may start")
@click.option("--owner")
@click.option("--unique-key")
@click.option("--wait", is_flag=True, help="wait for the job to end and print its status")
def dispatch(
    app_spec: str | None,
    database_url: str | None,
    task: str,
    args_json: str,
    wait: bool,
    **options: Any,
) -> None:
    """Queue TASK and print the job id."""
    if not app_spec:
        raise ConfigurationError(
            f"dispatch needs your tasks to know {task!r}: pass --app or set UNDERWAY_APP"
        )
    try:
        kwargs = json.loads(args_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--args") from None
    if not isinstance(kwargs, dict):
        raise click.BadParameter("must be a JSON object of keyword arguments", param_hint="--args")
    app = open_app(app_spec, database_url)
    job_id = app.dispatch(task, kwargs, **options)
    click.echo(job_id)
    if wait:
        document = app.wait(job_id)
        print_status(document)
        sys.exit(0 if document["status"] == "completed" else 1)


@main.command()
@common
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="print the status document")
@click.option(
    "--traceback", "show_traceback", is_flag=True, help="print the last failure's traceback"
)
def status(
    app_spec: str | None, database_url: str | None, job_id: str, as_json: bool, show_traceback: bool
) -> None:
    """Show one job."""
    app = open_app(app_spec, database_url)
    document = get_document(app, job_id)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        print_status(document)
    if show_traceback:
        record = app.store.job_get(job_id)
        console.print(
            record.traceback if record and record.traceback else "(no traceback)", markup=False
        )


def print_status(document: dict[str, Any]) -> None:
    style = STATUS_STYLE[document["status"]]
    progress = document["progress"]
    console.print(
        f"[bold]{document['task']}[/] [{style}]{document['status']}[/]  {document['job_id']}"
    )
    total = progress["total"] if progress["total"] is not None else "?"
    percent = f" ({progress['percent']}%)" if progress["percent"] is not None else ""
    console.print(
        f"progress  {progress['processed']}/{total}{percent}  {progress['current'] or ''}"
    )
    d = document
    console.print(
        f"attempts  {d['attempts']}/{d['max_attempts']}   queue {d['queue']}   "
        f"priority {d['priority']}"
    )
    console.print(
        f"created   {d['created_at']}   started {d['started_at'] or '-'}   "
        f"ended {d['completed_at'] or '-'}"
    )
    if document["usage"]:
        console.print("usage     " + ", ".join(f"{k}={v:g}" for k, v in document["usage"].items()))
    for result in document["results"]:
        print_result(result)
    for error in document["errors"]:
        console.print(f"[red]error[/] {error}", markup=True)
    if document["result"] is not None:
        console.print(f"result    {codec.dumps(document['result'])}", markup=False)
    if document["error"]:
        console.print(f"[red]failed    {document['error']}[/]")


def print_result(result: dict[str, Any]) -> None:
    ok = result.get("success", True)
    mark = "[green]✓[/]" if ok else "[red]✗[/]"
    label = result.get("item", result.get("issue_id", ""))
    console.print(f"{mark} {label} {result.get('message', '')}".rstrip())


@main.command()
@common
@click.argument("job_id")
@click.option("--watch", is_flag=True, help="refresh until the job ends")
@click.option("--interval", type=float, default=0.5, show_default=True)
def monitor(
    app_spec: str | None, database_url: str | None, job_id: str, watch: bool, interval: float
) -> None:
    """A live progress bar for one job, with its results as they arrive."""
    app = open_app(app_spec, database_url)
    document = get_document(app, job_id)
    shown = 0
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:.0f}/{task.fields[total_text]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[cost]} {task.fields[current]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        handle = bar.add_task(document["task"], total=None, total_text="?", cost="", current="")
        while True:
            progress = document["progress"]
            for result in document["results"][shown:]:
                bar.console.print(_result_line(result))
            shown = len(document["results"])
            cost = document["usage"].get("ai_cost", document["usage"].get("cost"))
            bar.update(
                handle,
                total=progress["total"],
                completed=progress["processed"],
                total_text=progress["total"] if progress["total"] is not None else "?",
                cost=f"${cost:.4f}" if cost is not None else "",
                current=progress["current"] or "",
                description=f"{document['task']} {document['status']}",
            )
            if not watch or Status(document["status"]).finished:
                break
            time.sleep(interval)
            document = get_document(app, job_id)
    for error in document["errors"]:
        console.print(f"[red]error[/] {error}")
    if document["error"]:
        console.print(f"[red]{document['status']}: {document['error']}[/]")
    elif Status(document["status"]).finished:
        console.print(f"[{STATUS_STYLE[document['status']]}]{document['status']}[/]")


def _result_line(result: dict[str, Any]) -> str:
    ok = result.get("success", True)
    label = result.get("item", result.get("issue_id", ""))
    return f"{'[green]✓' if ok else '[red]✗'} {label}[/] {result.get('message', '')}"


@main.command()
@common
@click.option("--status", "status_filter", type=click.Choice([s.value for s in Status]))
@click.option("--task")
@click.option("--queue")
@click.option("--owner")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--cursor", help="next_cursor of the previous page")
@click.option("--json", "as_json", is_flag=True)
def jobs(
    app_spec: str | None,
    database_url: str | None,
    status_filter: str | None,
    as_json: bool,
    **filters: Any,
) -> None:
    """List jobs, newest first."""
    app = open_app(app_spec, database_url)
    documents, next_cursor = app.list(status=status_filter, **filters)
    if as_json:
        click.echo(json.dumps({"jobs": documents, "next_cursor": next_cursor}, indent=2))
        return
    table = Table("job id", "task", "queue", "status", "progress", "attempts", "created")
    for d in documents:
        p = d["progress"]
        done = f"{p['processed']}/{p['total']}" if p["total"] is not None else str(p["processed"])
        style = STATUS_STYLE[d["status"]]
        table.add_row(
            d["job_id"],
            d["task"],
            d["queue"],
            f"[{style}]{d['status']}[/]",
            done,
            f"{d['attempts']}/{d['max_attempts']}",
            d["created_at"],
        )
    console.print(table)
    if next_cursor:
        console.print(f"more: --cursor {next_cursor}")


@main.command()
@common
@click.argument("job_ids", nargs=-1)
@click.option("--failed", "all_failed", is_flag=True, help="retry every failed job")
def retry(
    app_spec: str | None, database_url: str | None, job_ids: tuple[str, ...], all_failed: bool
) -> None:
    """Queue failed or cancelled jobs again."""
    if not job_ids and not all_failed:
        raise click.UsageError("name job ids, or pass --failed")
    app = open_app(app_spec, database_url)
    ids = list(job_ids)
    if all_failed:
        cursor = None
        while True:
            documents, cursor = app.list(status="failed", limit=1000, cursor=cursor)
            ids.extend(d["job_id"] for d in documents)
            if cursor is None:
                break
    for job_id in ids:
        document = app.retry(job_id)
        click.echo(f"{job_id} {document['status']}")
    if all_failed:
        click.echo(f"{len(ids)} jobs queued again")


@main.command()
@common
@click.argument("job_id")
def cancel(app_spec: str | None, database_url: str | None, job_id: str) -> None:
    """Cancel a pending or processing job."""
    document = open_app(app_spec, database_url).cancel(job_id)
    click.echo(f"{job_id} {document['status']}")


@main.command()
@common
@click.option("--older-than", required=True, help="e.g. 7d, 12h, 30m")
def prune(app_spec: str | None, database_url: str | None, older_than: str) -> None:
    """Delete finished jobs older than the given age."""
    count = open_app(app_spec, database_url).prune(parse_duration(older_than))
    click.echo(f"deleted {count} finished jobs")


@main.command()
@common
@click.option("--json", "as_json", is_flag=True)
def stats(app_spec: str | None, database_url: str | None, as_json: bool) -> None:
    """Counts per queue and status, and the workers alive."""
    app = open_app(app_spec, database_url)
    result = app.stats()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    table = Table("queue", *[s.value for s in Status])
    for queue, counts in sorted(result["queues"].items()):
        table.add_row(queue, *[str(counts.get(s.value, 0)) for s in Status])
    console.print(table)
    completed, failed = result["completed_last_minute"], result["failed_last_minute"]
    console.print(f"last minute: {completed} completed, {failed} failed")
    if not result["workers"]:
        console.print(
            "[yellow]no worker is running[/]: start one with `underway worker --app module:app`"
        )
    for w in result["workers"]:
        console.print(
            f"worker {w['id']}  {w['processes']}x{w['concurrency']} slots  "
            f"running {w['running']}  queues {','.join(w['queues']) or 'all'}"
        )


@main.command()
@common
def migrate(app_spec: str | None, database_url: str | None) -> None:
    """Create or upgrade the database schema."""
    app = open_app(app_spec, database_url)
    app.store.schema_ensure()
    click.echo(f"schema ready in {app.store.url}")


@main.command()
@common
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="needs UNDERWAY_TOKENS unless loopback"
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    "worker_processes",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="worker processes to run beside the server (needs --app)",
)
def serve(
    app_spec: str | None, database_url: str | None, host: str, port: int, worker_processes: int
) -> None:
    """Serve the HTTP API and dashboard; with --workers N, run jobs too."""
    try:
        from .web import create_app
        from .web.auth import bind_is_local, load_tokens
        from .web.serve import run_server, worker_command
    except ImportError as exc:
        raise click.ClickException(f"serve needs: pip install 'underway[web]' ({exc})") from None
    tokens = load_tokens()
    if not tokens and not bind_is_local(host):
        raise click.ClickException(
            f"refusing to serve on {host} without tokens: set UNDERWAY_TOKENS=token=owner,... "
            "(or the path of a file of such lines), or bind 127.0.0.1"
        )
    if worker_processes and not app_spec:
        raise ConfigurationError(
            "--workers needs your tasks: pass --app module:attribute or set UNDERWAY_APP"
        )
    app = open_app(app_spec, database_url)
    worker = None
    if worker_processes and app_spec:
        worker = worker_command(app_spec, app.database_url, worker_processes)
    run_server(create_app(app, tokens=tokens), host, port, worker)
