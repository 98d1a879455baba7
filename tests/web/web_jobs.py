"""Tasks the web tests run: in-process (make_app) and in worker subprocesses (web_jobs:app)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from underway import Job, Underway

GATE_TIMEOUT = 60.0


def wait_for_gate(path: str, needed: int) -> None:
    """Block the task until the test has written a number >= needed into the gate file, so a
    test decides exactly how far a job may get."""
    deadline = time.monotonic() + GATE_TIMEOUT
    while True:
        try:
            opened = int(Path(path).read_text() or 0)
        except (FileNotFoundError, ValueError):
            opened = 0
        if opened >= needed:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {path} stayed below {needed}")
        time.sleep(0.01)


def make_app(database_url: str | None = None) -> Underway:
    app = Underway(database_url)

    @app.task(name="demo.fix_all")
    def fix_all(
        job: Job, n: int = 3, gate: str | None = None, fail: list[int] | None = None
    ) -> dict[str, Any]:
        job.progress(total=n)
        for i in range(1, n + 1):
            if gate:
                wait_for_gate(gate, i)
            ok = i not in (fail or [])
            job.add_result(
                {
                    "item": f"issue-{i}",
                    "success": ok,
                    "message": "fixed" if ok else "could not fix",
                    "ai_cost": 0.0012,
                }
            )
            job.add_usage(ai_cost=0.0012, tokens=150)
            job.stream(f"issue-{i}: {'fixed' if ok else 'could not fix'}\n")
            job.advance(current=f"src/module_{i}.py")
        return {"fixed": n - len(fail or [])}

    @app.task(name="demo.boom", tries=1)
    def boom(message: str = "the model refused") -> None:
        raise RuntimeError(message)

    @app.task(name="demo.nest")
    def nest(depth: int = 400) -> Any:
        """A result nested deeper than dispatch accepts for arguments: readers must cope."""
        value: Any = "bottom"
        for _ in range(depth):
            value = {"inner": value}
        return value

    @app.task(name="demo.echo")
    def echo(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    return app


app = make_app()
