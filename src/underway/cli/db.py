"""Database commands: migrate, which creates or upgrades the schema."""

from __future__ import annotations

import click

from .common import app_options, open_app


def register(group: click.Group) -> None:
    """Add this module's commands to the root group."""
    group.add_command(migrate)


@click.command()
@app_options
def migrate(app_spec: str | None, database_url: str | None) -> None:
    """Create or upgrade the database schema."""
    app = open_app(app_spec, database_url)
    app.store.schema_ensure()
    click.echo(f"schema ready in {app.store.url}")
