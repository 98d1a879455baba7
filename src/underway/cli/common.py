"""What every command shares: the root group that turns user mistakes into one line and exit 1,
the --app and --database-url options, opening the app, durations, and the console, JSON and
status styling that output is written with."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from ..app import Underway
from ..errors import JobNotFound, UnderwayError
from ..loader import load_app
from ..settings import ENV_APP, ENV_DATABASE_URL

F = TypeVar("F", bound=Callable[..., Any])

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
    """A group whose user mistakes become one line on stderr and exit 1: library errors, and
    click's own usage errors (a bad option value, a missing argument), which would otherwise
    print the usage lines and exit 2."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise click.ClickException(exc.format_message()) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise click.ClickException(exc.format_message()) from None
        except (UnderwayError, ValueError, TypeError, TimeoutError, RecursionError) as exc:
            raise click.ClickException(str(exc)) from None


def parse_duration(text: str) -> float:
    """Seconds in a duration such as 30s, 15m, 12h, 7d, 2w or a bare number of seconds."""
    match = DURATION.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration such as 30s, 15m, 12h or 7d")
    return float(match.group(1)) * SECONDS_PER_UNIT[match.group(2)]


APP_HELP = "module:attribute of your Underway object"
DATABASE_URL_HELP = "overrides the app's and UNDERWAY_DATABASE_URL"


def _from_root(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # `underway --app x dispatch ...` and `underway dispatch --app x ...` mean the same; the
    # command's own flag wins, then the root's, then the environment (read by the root).
    if value is None and param.name is not None:
        return ctx.find_root().params.get(param.name)
    return value


def root_app_options(fn: F) -> F:
    """--app and --database-url on the root group, for every command below it."""
    fn = click.option("--app", "app_spec", envvar=ENV_APP, help=APP_HELP)(fn)
    return click.option("--database-url", help=DATABASE_URL_HELP)(fn)


def app_options(fn: F) -> F:
    """Add --app and --database-url, passed as `app_spec` and `database_url`."""
    fn = click.option("--app", "app_spec", callback=_from_root, help=APP_HELP)(fn)
    return click.option("--database-url", callback=_from_root, help=DATABASE_URL_HELP)(fn)


def open_app(app_spec: str | None, database_url: str | None) -> Underway:
    """The user's app (or a bare Underway when none is named), on the chosen database."""
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
    """The job's status document; JobNotFound (one line, exit 1) when there is none."""
    document = app.get(job_id)
    if document is None:
        raise JobNotFound(f"no job with id {job_id} in {app.store.url}")
    return document


def echo_json(value: Any) -> None:
    """Print a value as indented JSON, for --json."""
    click.echo(json.dumps(value, indent=2))


def status_markup(status: str) -> str:
    """A status in its colour, as rich markup."""
    return f"[{STATUS_STYLE[status]}]{status}[/]"
