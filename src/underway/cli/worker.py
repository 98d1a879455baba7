"""The worker command: run jobs in a supervisor with child processes."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ..errors import ConfigurationError
from .common import app_options, open_app


def register(group: click.Group) -> None:
    """Add this module's commands to the root group."""
    group.add_command(worker)


@click.command()
@app_options
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
    from ..worker import Supervisor, WorkerConfig, logs

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
