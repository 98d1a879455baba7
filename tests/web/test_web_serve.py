"""`underway serve` as a real process: the loopback rule, embedded workers, a clean stop."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from web_helpers import HERE, child_env, wait_until

TOKEN = "serve-admin-token-5f1c2b"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(*args: str) -> list[str]:
    return [sys.executable, "-m", "underway", "serve", *args]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_serve_refuses_a_public_address_without_tokens(host: str, sqlite_url: str) -> None:
    result = subprocess.run(
        serve("--host", host, "--port", str(free_port()), "--database-url", sqlite_url),
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(),
        cwd=HERE,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"refusing to serve on {host} without tokens" in lines[0]
    assert "UNDERWAY_TOKENS" in lines[0]


def test_serve_with_workers_runs_jobs_and_stops_them_with_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        args = ["--port", str(port), "--workers", "1", "--app", "web_jobs:app"]
        server = subprocess.Popen(
            serve(*args, "--database-url", sqlite_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(UNDERWAY_TOKENS=f"{TOKEN}=admin"),
            cwd=HERE,
        )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:

        def healthy() -> bool:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2).json()
            except httpx.HTTPError:
                return False
            return bool(health["workers_alive"])

        wait_until(healthy, timeout=30, what="the server and its worker")
        workers = psutil.Process(server.pid).children(recursive=True)
        assert workers, "no embedded worker process"
        created = httpx.post(
            f"{base}/api/jobs", json={"task": "demo.fix_all", "args": {"n": 5}}, headers=headers
        )
        assert created.status_code == 202
        job_url = f"{base}/api/jobs/{created.json()['job_id']}"

        def completed() -> bool:
            return httpx.get(job_url, headers=headers).json()["status"] == "completed"

        wait_until(completed, timeout=30, what="the job to complete")
        assert httpx.get(job_url, headers=headers).json()["progress"]["processed"] == 5
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        gone = psutil.wait_procs(workers, timeout=15)[1]
        assert not gone, f"worker processes outlived the server: {gone}"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    text = log.read_text()
    assert "GET /healthz" in text  # the access log is on ...
    assert TOKEN not in text  # ... and no token ever reaches it
