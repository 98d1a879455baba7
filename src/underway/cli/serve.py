"""The serve command: the HTTP API and dashboard, and optionally workers beside them."""

from __future__ import annotations

import click

from ..errors import ConfigurationError
from .common import app_options, open_app


def register(group: click.Group) -> None:
    """Add this module's commands to the root group."""
    group.add_command(serve)


@click.command()
@app_options
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
        from ..web import create_app
        from ..web.auth import bind_is_local, load_tokens
        from ..web.serve import run_server, worker_command
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
