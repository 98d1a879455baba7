"""/healthz and /metrics."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx
import pytest
from web_helpers import ADMIN, LOCAL_CLIENT

from underway import Underway
from underway.web import create_app

pytestmark = pytest.mark.anyio

SAMPLE_LINE = re.compile(r'^[a-z_]+(\{([a-z]+="(?:[^"\\]|\\.)*",?)+\})? -?[0-9.e+-]+$')


async def test_health_answers_503_when_the_database_cannot_be_used(tmp_path: Path) -> None:
    foreign = tmp_path / "someone-elses.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    web = create_app(Underway(f"sqlite:///{foreign}"), tokens={})
    transport = httpx.ASGITransport(app=web, client=LOCAL_CLIENT)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}
    assert "invoices" not in response.text  # details go to the log, not to the caller


async def test_metrics_in_prometheus_text_format(client: httpx.AsyncClient, jobs: Underway) -> None:
    jobs.eager = True
    for n in (1, 2, 3):
        jobs.dispatch("demo.fix_all", {"n": n})
    jobs.dispatch("demo.boom")
    jobs.eager = False
    jobs.dispatch("demo.echo", queue='odd "queue"\n')
    response = await client.get("/metrics", headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = response.text.splitlines()
    for line in lines:
        assert (
            line.startswith("# HELP ") or line.startswith("# TYPE ") or SAMPLE_LINE.match(line)
        ), line
    text = response.text
    assert 'underway_jobs{queue="default",status="completed"} 3' in text
    assert 'underway_jobs{queue="default",status="failed"} 1' in text
    assert 'underway_queue_depth{queue="odd \\"queue\\"\\n"} 1' in text
    assert "underway_workers_alive 0" in text
    assert 'underway_jobs_finished_last_minute{status="completed"} 3' in text
    assert 'underway_recent_job_duration_seconds{task="demo.fix_all",quantile="0.5"}' in text
    assert 'underway_recent_job_duration_samples{task="demo.fix_all"} 3' in text
    assert "# TYPE underway_jobs gauge" in text
