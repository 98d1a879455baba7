"""A host application for the widget's browser tests, run by real processes: its own session
sign-in (Starlette's SessionMiddleware cookie), underway mounted at /jobs with the session user
as the owner, and a page that renders <underway-progress> through the Jinja global.

Server: UNDERWAY_DATABASE_URL=... uvicorn --factory widget_host:host
Worker: underway worker --app widget_host:jobs
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.middleware.sessions import SessionMiddleware

from underway import Job, Underway
from underway.web import create_app
from underway.web.widget import install

SECRET_KEY = "widget-host-secret-key-0123456789"
STEPS_QUEUE = "steps"
GATE_TIMEOUT = 60.0
LONG_NAME = "src/" + "very_long_directory_name_" * 6 + "module.py"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Report</title></head>
<body><main><h1>Your report</h1>
{{ underway_progress(job_id, view=view, cancel=cancel, markdown=markdown) }}
</main></body></html>"""


def piece(i: int) -> str:
    """Step i's output: Markdown, with text that must never become HTML, and a character
    outside the BMP (one code point, which the protocol's offsets count, but two UTF-16
    units, which a JavaScript length counts)."""
    return f"## Step {i} 🚀\n- item **{i}** with `code`\n- <b>not bold</b> {LONG_NAME}\n\n"


def wait_for_gate(path: str, needed: int) -> None:
    """Block until the test has written a number >= needed into the gate file."""
    deadline = time.monotonic() + GATE_TIMEOUT
    while True:
        try:
            if int(Path(path).read_text() or 0) >= needed:
                return
        except (FileNotFoundError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {path} stayed below {needed}")
        time.sleep(0.01)


def make_jobs(database_url: str | None = None) -> Underway:
    jobs = Underway(database_url, secret_key=SECRET_KEY)

    @jobs.task(name="widget.steps", queue=STEPS_QUEUE)
    def steps(job: Job, n: int = 20, gate: str | None = None) -> dict[str, Any]:
        job.progress(total=n)
        for i in range(1, n + 1):
            if gate:
                wait_for_gate(gate, i)
            time.sleep(0.05)
            job.add_result({"item": f"step-{i}", "success": True, "message": f"done {i}"})
            job.add_usage(ai_cost=0.001)
            job.stream(piece(i))
            job.advance(current=LONG_NAME if i == n else f"src/part_{i}.py")
        return {"steps": n}

    return jobs


def session_user(request: Request) -> str | None:
    user = request.session.get("user")
    return user if isinstance(user, str) else None


def host() -> FastAPI:
    app = FastAPI()
    env = jinja2.Environment(autoescape=True)
    install(env, src="/jobs")
    page = env.from_string(PAGE)

    @app.get("/login/{name}")
    def login(name: str, request: Request) -> dict[str, str]:
        request.session["user"] = name
        return {"user": name}

    @app.get("/logout")
    def logout(request: Request) -> dict[str, str]:
        request.session.clear()
        return {}

    @app.get("/watch/{job_id}", response_class=HTMLResponse)
    def watch(job_id: str, view: bool = False, cancel: bool = False, markdown: bool = False) -> str:
        token = jobs.view_token(job_id) if view else None
        return page.render(job_id=job_id, view=token, cancel=cancel, markdown=markdown)

    app.mount("/jobs", create_app(jobs, authenticate=session_user))
    app.add_middleware(SessionMiddleware, secret_key=SECRET_KEY)
    return app


jobs = make_jobs()
