"""The demo's web app: both example apps, with underway's dashboard and API at /."""

from __future__ import annotations

import os
import secrets

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from underway.web import create_app

from .codefix.web import router as codefix_router
from .jobs import app as jobs
from .reports.web import router as reports_router
from .web_common import STATIC_DIR


def create_demo_app() -> FastAPI:
    demo = FastAPI(title="underway demo", docs_url=None, redoc_url=None)
    secret = os.environ.get("DEMO_SECRET") or secrets.token_urlsafe(32)
    demo.add_middleware(
        SessionMiddleware, secret_key=secret, session_cookie="demo_session", same_site="lax"
    )
    demo.mount("/demo-static", StaticFiles(directory=STATIC_DIR), name="demo-static")
    demo.include_router(codefix_router)
    demo.include_router(reports_router)
    # Last: the dashboard and /api answer everything the apps do not.
    demo.mount("/", create_app(jobs))
    return demo
