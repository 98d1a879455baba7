"""An unexpected error answers 500 with a problem document, and the connection stays usable: a
real uvicorn server, and one client reusing one keep-alive connection."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
import web_jobs
from web_helpers import ADMIN, TOKENS, live_server

from underway.web import create_app
from underway.web.limits import SERVER_ERROR


def client_port(response: httpx.Response) -> Any:
    """The client side of the connection that carried the response."""
    return response.extensions["network_stream"].get_extra_info("client_addr")


def test_a_500_leaves_the_connection_usable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A store error, for real: the job's row holds arguments that are not JSON (a hand edit, a
    # disk fault), so its status document cannot be built. The web layer does not depend on
    # which backend raised, so one backend is enough here.
    path = tmp_path / "broken.db"
    app = web_jobs.make_app(f"sqlite:///{path}")
    job_id = app.dispatch("demo.echo", {"n": 1})
    with sqlite3.connect(path) as db:
        updated = db.execute("UPDATE underway_jobs SET args = '{not json' WHERE id = ?", (job_id,))
        assert updated.rowcount == 1
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    try:
        with (
            live_server(create_app(app, tokens=TOKENS)) as base,
            httpx.Client(base_url=base, headers=ADMIN, limits=limits, timeout=10) as client,
            caplog.at_level(logging.ERROR, logger="underway.web"),
        ):
            before = client.get("/healthz")
            ports = [client_port(before)]
            broken = client.get(f"/api/jobs/{job_id}")
            ports.append(client_port(broken))
            after = client.get("/healthz")
            ports.append(client_port(after))
            listing = client.get("/api/jobs")
    finally:
        app.store.close()
    assert broken.status_code == 500
    assert broken.json() == {"detail": SERVER_ERROR}
    assert broken.headers["x-content-type-options"] == "nosniff"
    assert after.status_code == 200
    assert listing.status_code == 500
    assert ports[0] == ports[1] == ports[2], "the client had to open a new connection"
    assert f"GET /api/jobs/{job_id} failed" in caplog.text
    assert "JSONDecodeError" in caplog.text
