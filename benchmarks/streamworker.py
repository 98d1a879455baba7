"""`underway worker` with a chosen progress interval, for W7.

The command line has no flag for it (WorkerConfig.progress_interval, default 0.25 s): this runs
the same Supervisor the command does, with the interval set.

python -m benchmarks.streamworker APP_SPEC PROCESSES CONCURRENCY PROGRESS_INTERVAL
"""

from __future__ import annotations

import sys

from underway.loader import load_app
from underway.worker import Supervisor, WorkerConfig, logs


def main(argv: list[str]) -> int:
    app_spec, processes, concurrency, interval = argv
    logs.configure("info")  # as `underway worker` does by default
    config = WorkerConfig(
        app_spec=app_spec,
        processes=int(processes),
        concurrency=int(concurrency),
        progress_interval=float(interval),
    )
    return Supervisor(load_app(app_spec), config).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
