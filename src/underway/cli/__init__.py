"""The command line: thin click commands over the library. User mistakes exit 1 with one line,
never a traceback.

`main` is the root group (the `underway` script and `python -m underway`). Each module beside
this one holds one group of commands and a `register(group)` that adds them here, so a new
group of commands is a new module and one line below. What they share is in common.py.
"""

from __future__ import annotations

import click

from . import db, jobs, serve, worker
from .common import FriendlyGroup, parse_duration, root_app_options

__all__ = ["main", "parse_duration"]


@click.group(cls=FriendlyGroup)
@click.version_option(package_name="underway")
@root_app_options
def main(app_spec: str | None, database_url: str | None) -> None:
    """underway: durable background jobs with progress you can watch."""


worker.register(main)
jobs.register(main)
db.register(main)
serve.register(main)
