"""Commands about jobs: dispatch, status, monitor, jobs (the list), retry, cancel, prune and
stats."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from ..errors import ConfigurationError
from ..model import Status
from .common import (
    app_options,
    console,
    echo_json,
    get_document,
    open_app,
    parse_duration,
    status_markup,
)
from .display import pace_text, print_status, result_line


def register(group: click.Group) -> None:
    """Add this module's commands to the root group."""
    for command in (dispatch, status, monitor, jobs, retry, cancel, prune, stats):
        group.add_command(command)


@click.command()
@app_options
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
    except RecursionError:
        raise click.BadParameter("nested too deeply to be read", param_hint="--args") from None
    if not isinstance(kwargs, dict):
        raise click.BadParameter("must be a JSON object of keyword arguments", param_hint="--args")
    app = open_app(app_spec, database_url)
    job_id = app.dispatch(task, kwargs, **options)
    click.echo(job_id)
    if wait:
        document = app.wait(job_id)
        print_status(document)
        sys.exit(0 if document["status"] == "completed" else 1)


@click.command()
@app_options
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
        echo_json(document)
    else:
        print_status(document)
    if show_traceback:
        record = app.store.job_get(job_id)
        console.print(
            record.traceback if record and record.traceback else "(no traceback)", markup=False
        )


@click.command()
@app_options
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
        TextColumn("{task.fields[pace]}"),
        TextColumn("{task.fields[cost]} {task.fields[current]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        handle = bar.add_task(
            document["task"], total=None, total_text="?", pace="", cost="", current=""
        )
        while True:
            progress = document["progress"]
            for result in document["results"][shown:]:
                bar.console.print(result_line(result))
            shown = len(document["results"])
            cost = document["usage"].get("ai_cost", document["usage"].get("cost"))
            bar.update(
                handle,
                total=progress["total"],
                completed=progress["processed"],
                total_text=progress["total"] if progress["total"] is not None else "?",
                pace=pace_text(progress),
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
        console.print(status_markup(document["status"]))


@click.command()
@app_options
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
        echo_json({"jobs": documents, "next_cursor": next_cursor})
        return
    # Ids are never cut short, however narrow the terminal: people copy them into commands.
    widest_id = max((len(d["job_id"]) for d in documents), default=0)
    job_id_column = Column("job id", no_wrap=True, min_width=widest_id)
    table = Table(job_id_column, "task", "queue", "status", "progress", "attempts", "created")
    for d in documents:
        p = d["progress"]
        done = f"{p['processed']}/{p['total']}" if p["total"] is not None else str(p["processed"])
        table.add_row(
            d["job_id"],
            d["task"],
            d["queue"],
            status_markup(d["status"]),
            done,
            f"{d['attempts']}/{d['max_attempts']}",
            d["created_at"],
        )
    console.print(table)
    if next_cursor:
        console.print(f"more: --cursor {next_cursor}")


@click.command()
@app_options
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


@click.command()
@app_options
@click.argument("job_id")
def cancel(app_spec: str | None, database_url: str | None, job_id: str) -> None:
    """Cancel a pending or processing job."""
    document = open_app(app_spec, database_url).cancel(job_id)
    click.echo(f"{job_id} {document['status']}")


@click.command()
@app_options
@click.option("--older-than", required=True, help="e.g. 7d, 12h, 30m")
def prune(app_spec: str | None, database_url: str | None, older_than: str) -> None:
    """Delete finished jobs older than the given age."""
    count = open_app(app_spec, database_url).prune(parse_duration(older_than))
    click.echo(f"deleted {count} finished jobs")


@click.command()
@app_options
@click.option("--json", "as_json", is_flag=True)
def stats(app_spec: str | None, database_url: str | None, as_json: bool) -> None:
    """Counts per queue and status, and the workers alive."""
    app = open_app(app_spec, database_url)
    result = app.stats()
    if as_json:
        echo_json(result)
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
