"""`import underway` and eager mode on platforms without fork (Windows) or its signal calls.

The worker needs fork-era calls (pthread_sigmask, selecting on pipes); the package itself must
import, dispatch and run eager jobs without them. The test removes those attributes from `os`,
`signal` and `select` in a fresh interpreter before underway is imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import json, os, select, signal, sys

    for module, names in (
        (os, ["fork", "forkpty", "register_at_fork", "getppid"]),
        (signal, ["pthread_sigmask", "pthread_kill", "SIGHUP", "SIGKILL", "set_wakeup_fd"]),
        (select, ["poll", "epoll"]),
    ):
        for name in names:
            if hasattr(module, name):
                delattr(module, name)

    import underway
    from underway import Job, Underway

    app = Underway(sys.argv[1], eager=True)

    @app.task
    def count(job: Job, n: int) -> int:
        job.progress(total=n)
        for i in range(n):
            job.advance(current=str(i))
        return n

    job_id = count.dispatch(n=3)
    print(json.dumps({"document": app.get(job_id), "loaded": sorted(sys.modules)}))
    """
)


def test_package_imports_and_runs_eager_jobs_without_fork(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, url], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    document = out["document"]
    assert document["status"] == "completed"
    assert document["result"] == 3
    assert document["progress"]["processed"] == 3
    assert not [m for m in out["loaded"] if m.startswith("underway.worker")]
