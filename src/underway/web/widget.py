"""The progress widget for server-rendered pages: <underway-progress>, with its fallback link.

    from underway.web.widget import install, widget_html
    install(templates.env, src="/jobs")       # then in a template:
    {{ underway_progress(job_id, cancel=True) }}

The markup links underway-progress.css and loads underway-progress.js (deferred) from the
underway app mounted at src; repeating them for a second widget on a page costs nothing (the
script defines the element once). Until the script runs, or without JavaScript, the element
shows a plain link to the job's status document.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup, escape

DEFAULT_SRC = "/jobs"
STATIC_FILES = ("underway-progress.css", "underway-progress.js")


def widget_html(
    job_id: str,
    *,
    src: str = DEFAULT_SRC,
    view: str | None = None,
    cancel: bool = False,
    markdown: bool = False,
) -> Markup:
    """<underway-progress> for job_id, following the underway app mounted at src ("" at the
    root). view: a view link's token (Underway.view_token) for a page without a session; it
    rules out cancel. cancel: a Cancel button. markdown: render the job's output as Markdown."""
    base = src.rstrip("/")
    status_url = f"{base}/api/jobs/{quote(str(job_id), safe='')}"
    if view:
        status_url += "?" + urlencode({"view": view})
    attributes: dict[str, str | None] = {"job": str(job_id), "src": base}
    if view:
        attributes["view"] = view
    if cancel and not view:
        attributes["cancel"] = None
    if markdown:
        attributes["markdown"] = None
    opening = " ".join(
        name if value is None else f'{name}="{escape(value)}"' for name, value in attributes.items()
    )
    css, script = (escape(f"{base}/static/{name}") for name in STATIC_FILES)
    return Markup(
        f'<link rel="stylesheet" href="{css}"><script defer src="{script}"></script>'
        f'<underway-progress {opening}><a href="{escape(status_url)}">'
        f"Job {escape(job_id)}: status (JSON)</a></underway-progress>"
    )


def install(env: jinja2.Environment, src: str = DEFAULT_SRC) -> None:
    """Make underway_progress(job_id, **options) a global of env's templates: widget_html with
    src given here unless the call names another."""

    def underway_progress(job_id: str, **options: Any) -> Markup:
        options.setdefault("src", src)
        return widget_html(job_id, **options)

    env.globals["underway_progress"] = underway_progress
