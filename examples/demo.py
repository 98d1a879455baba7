"""`make demo`: seeds the demo data, starts the web server and a worker in one process tree.

The worker stops with the demo however the demo ends: Ctrl-C, SIGTERM, a closed terminal
(SIGHUP) or a kill.
"""

from __future__ import annotations

import os
import sys

import uvicorn

from underway.web.serve import start_worker, stop_worker

WORKER_PROCESSES = "2"
# Offline fixes take milliseconds: without a pause per call no progress bar would ever move.
DEMO_OFFLINE_LATENCY = "0.4"


def main() -> int:
    os.environ.setdefault("DEMO_DATA_DIR", "demo-data")
    os.environ.setdefault("OFFLINE_LATENCY", DEMO_OFFLINE_LATENCY)
    from .settings import data_dir

    folder = data_dir()
    os.environ.setdefault("UNDERWAY_DATABASE_URL", f"sqlite:///{folder / 'underway.db'}")
    try:
        ai = ai_description()
    except ValueError as exc:
        print(f"underway demo: {exc}", file=sys.stderr)
        return 2
    from .seed import describe, seed

    data = describe(seed(), folder)
    port = int(os.environ.get("PORT", "8000"))
    base = f"http://127.0.0.1:{port}"
    worker = start_worker(
        [sys.executable, "-m", "underway", "worker", "--app", "examples.jobs:app",
         "--processes", WORKER_PROCESSES],
        new_session=True,  # Ctrl-C reaches only us; we stop the worker gracefully
    )  # fmt: skip
    print(
        "\nunderway demo\n"
        f"  data        {data}\n"
        f"  AI          {ai}\n"
        f"  dashboard   {base}/\n"
        f"  Fix All     {base}/fix-all\n"
        f"  reports     {base}/reports   (sign in as alice or bob)\n"
        f"  API         {base}/api/jobs   {base}/openapi.json\n"
        "Ctrl-C stops the server and the worker.\n",
        flush=True,
    )
    try:
        from .server import create_demo_app

        uvicorn.run(create_demo_app(), host="127.0.0.1", port=port, log_level="warning")
    finally:
        stop_worker(worker)
    return 0


def ai_description() -> str:
    """Which AI the jobs will use; raises ValueError for a bad OFFLINE_LATENCY."""
    from .ai import OfflineProvider, provider_from_env

    with provider_from_env() as provider:
        if isinstance(provider, OfflineProvider) and provider.latency:
            return f"{provider.label}; OFFLINE_LATENCY=0 runs at full speed"
        return provider.label


if __name__ == "__main__":
    sys.exit(main())
