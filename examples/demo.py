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


def main() -> int:
    os.environ.setdefault("DEMO_DATA_DIR", "demo-data")
    from .settings import data_dir

    folder = data_dir()
    os.environ.setdefault("UNDERWAY_DATABASE_URL", f"sqlite:///{folder / 'underway.db'}")
    from .seed import seed

    seeded = seed()
    port = int(os.environ.get("PORT", "8000"))
    base = f"http://127.0.0.1:{port}"
    worker = start_worker(
        [sys.executable, "-m", "underway", "worker", "--app", "examples.jobs:app",
         "--processes", WORKER_PROCESSES],
        new_session=True,  # Ctrl-C reaches only us; we stop the worker gracefully
    )  # fmt: skip
    print(
        f"\nunderway demo (data in {folder}; seeded {seeded['issues']} issues, "
        f"{seeded['entries']} journal entries)\n"
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


if __name__ == "__main__":
    sys.exit(main())
