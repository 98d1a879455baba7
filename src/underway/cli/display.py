"""How a job's status document is printed: the status view (status, dispatch --wait) and the
result lines that status and monitor share."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .. import codec
from .common import console, status_markup


def print_status(document: dict[str, Any]) -> None:
    """A few lines about one job: progress, attempts, times, usage, results and errors."""
    progress = document["progress"]
    console.print(
        f"[bold]{document['task']}[/] {status_markup(document['status'])}  {document['job_id']}"
    )
    total = progress["total"] if progress["total"] is not None else "?"
    percent = f" ({progress['percent']}%)" if progress["percent"] is not None else ""
    pace = f"  {pace_text(progress)}" if progress.get("rate_per_s") is not None else ""
    console.print(
        f"progress  {progress['processed']}/{total}{percent}{pace}  {progress['current'] or ''}"
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


def pace_text(progress: dict[str, Any]) -> str:
    """The job's rate and time left, as "12.5/s, 0:01:20 left"; "" until a rate is measured."""
    rate = progress.get("rate_per_s")
    if rate is None:
        return ""
    eta = progress.get("eta_s")
    left = f", {timedelta(seconds=round(eta))} left" if eta is not None else ""
    return f"{rate:g}/s{left}"


def print_result(result: dict[str, Any]) -> None:
    """One result entry: a green tick or a red cross, its item and its message."""
    ok = result.get("success", True)
    mark = "[green]✓[/]" if ok else "[red]✗[/]"
    label = result.get("item", result.get("issue_id", ""))
    console.print(f"{mark} {label} {result.get('message', '')}".rstrip())


def result_line(result: dict[str, Any]) -> str:
    """One result entry as rich markup, for printing above a live progress bar."""
    ok = result.get("success", True)
    label = result.get("item", result.get("issue_id", ""))
    return f"{'[green]✓' if ok else '[red]✗'} {label}[/] {result.get('message', '')}"
