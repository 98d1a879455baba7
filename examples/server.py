"""The demo's web app: both example apps, with underway's dashboard and API at /.

The apps' pages show their jobs with underway's progress widget, which follows them through a
second mount at /watch: there underway knows the user of the demo's own sign-in (its
`authenticate` hook reads the demo's session), so a signed-in user watches their own report
jobs and nobody else's. The dashboard cannot use such a hook (it signs in with tokens only), so
it stays a mount of its own: open to this machine, or signed in with UNDERWAY_TOKENS.
"""

from __future__ import annotations

import os
import secrets

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from underway.web import create_app

from .codefix.web import router as codefix_router
from .jobs import app as jobs
from .reports.web import current_user
from .reports.web import router as reports_router
from .web_common import STATIC_DIR, WIDGET_MOUNT


def create_demo_app() -> FastAPI:
    demo = FastAPI(title="underway demo", docs_url=None, redoc_url=None)
    secret = os.environ.get("DEMO_SECRET") or secrets.token_urlsafe(32)
    demo.add_middleware(
        SessionMiddleware, secret_key=secret, session_cookie="demo_session", same_site="lax"
    )
    demo.mount("/demo-static", StaticFiles(directory=STATIC_DIR), name="demo-static")
    demo.include_router(codefix_router)
    demo.include_router(reports_router)
    if jobs.secret_key is None and not os.environ.get("UNDERWAY_SECRET_KEY"):
        # The Fix All page, open to all, shows its job by view link: made and checked here.
        jobs.secret_key = secrets.token_urlsafe(32)
    demo.mount(WIDGET_MOUNT, create_app(jobs, authenticate=current_user))
    # Last: the dashboard and /api answer everything the apps do not.
    demo.mount("/", create_app(jobs))
    return demo
