"""What both demo apps' pages share: templates (with the progress widget), the AI mode, the demo
sign-in and CSRF tokens."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from examples.ai import offline_from_env, offline_latency_from_env
from underway.web.widget import install

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
# Where the pages' progress widgets follow their jobs: underway's API, answering as the user of
# the demo's own sign-in (server.py). The dashboard at / is another mount of the same jobs.
WIDGET_MOUNT = "/watch"

templates = Jinja2Templates(
    env=Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(HERE / "templates"),
                FileSystemLoader(HERE / "codefix" / "templates"),
                FileSystemLoader(HERE / "reports" / "templates"),
            ]
        ),
        autoescape=select_autoescape(default=True),
    )
)
install(templates.env, src=WIDGET_MOUNT)  # {{ underway_progress(job_id, ...) }} in templates


def ai_mode() -> dict[str, bool | float]:
    """What the pages say about the AI: offline or not, and the simulated latency per call."""
    offline = offline_from_env()
    return {"offline": offline, "latency": offline_latency_from_env() if offline else 0.0}


def csrf_token(request: Request) -> str:
    token: str | None = request.session.get("csrf")
    if token is None:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")
