"""`underway serve`: uvicorn with the web app, and an embedded worker process beside it.

The worker is a child `underway worker` process in the server's process tree: it is stopped
(SIGTERM, then its grace period) when the server stops, and on Linux the kernel stops it as well
if the server dies without cleaning up.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import threading
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("underway.serve")
WORKER_GRACE_SECONDS = 10.0
PR_SET_PDEATHSIG = 1


def worker_command(app_spec: str, database_url: str, processes: int) -> list[str]:
    return [
        sys.executable, "-m", "underway", "worker", "--app", app_spec,
        "--database-url", database_url, "--processes", str(processes),
        "--grace", str(WORKER_GRACE_SECONDS),
    ]  # fmt: skip


def _stop_with_parent() -> None:
    # Runs in the child between fork and exec: ask for SIGTERM when the server process dies.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_worker(command: list[str], *, new_session: bool = False) -> subprocess.Popen[bytes]:
    """Start a worker that stops with this process: SIGTERM from us on a clean stop, from the
    kernel (Linux) when we die any other way (SIGKILL, SIGHUP of a closed terminal).
    new_session keeps the terminal's Ctrl-C away from it, so that we stop it gracefully."""
    extra: dict[str, Any] = {"start_new_session": new_session}
    if sys.platform.startswith("linux"):
        extra["preexec_fn"] = _stop_with_parent
    process = subprocess.Popen(command, **extra)
    stopping = threading.Event()

    def watch() -> None:
        code = process.wait()
        # Exit 0 is a worker told to stop (Ctrl-C reaches the whole process group); others crashed.
        if code != 0 and not stopping.is_set():
            log.error("the embedded worker exited with code %s; jobs wait until one runs", code)

    threading.Thread(target=watch, name="worker-watch", daemon=True).start()
    process.stopping = stopping  # type: ignore[attr-defined]
    return process


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    process.stopping.set()  # type: ignore[attr-defined]
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(WORKER_GRACE_SECONDS + 5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_server(asgi: Any, host: str, port: int, worker: list[str] | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then stop the worker and return."""

    # uvicorn re-raises the signal that stopped it once it has shut down; a handler of ours
    # turns that into a plain return, so that the worker below is always stopped.
    def note(signum: int, frame: FrameType | None) -> None:
        log.info("stopping on signal %s", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    process = start_worker(worker) if worker else None
    try:
        uvicorn.run(asgi, host=host, port=port, log_level="info", server_header=False)
    finally:
        if process is not None:
            stop_worker(process)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
