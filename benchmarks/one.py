"""One run in a process of its own: fresh state, one system, one case of one workload.

`python -m benchmarks.one SPEC_JSON` prints its outcome as the last line of stdout, after
RESULT_MARK: {"metrics": {...}, "notes": [...]}, {"unavailable": why} or {"error": what}.
The suite starts it as the leader of a new session, so that everything it starts can be killed
with one killpg when it overruns its budget; on SIGTERM it unwinds, stopping its processes and
removing its state on the way out.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from . import resources
from .config import Sizes
from .probe import ProbeReader
from .systems import SYSTEMS
from .workloads import Case, Context, load

RESULT_MARK = "BENCH-RESULT "


def _terminate(signum: int, _frame: FrameType | None) -> None:
    print(f"{signal.Signals(signum).name}: stopping, cleaning up", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    entry = SYSTEMS[spec["system"]]
    case = Case(**spec["case"])
    workload = load(case.workload)
    try:
        logs = Path(spec["logs"]) if spec.get("logs") else None
        with resources.fresh(entry.backend, spec["token"], spec["redis_db"], logs) as res:
            os.environ.update(res.env())
            try:
                system = entry.load()(res)
            except Exception as exc:  # the library, or underway's backend, cannot be imported
                hint = " (pip install -e '.[bench]')" if isinstance(exc, ImportError) else ""
                return {"unavailable": f"cannot load its runner: {exc}{hint}"}
            try:
                system.setup()
                ctx = Context(system, case, Sizes(**spec["sizes"]), ProbeReader(res.probe))
                metrics = workload.run(ctx)
            finally:
                system.close()
            return {"metrics": metrics, "notes": [note for note in ctx.notes if note]}
    except resources.NotAvailable as exc:
        return {"unavailable": str(exc)}


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    spec = json.loads(sys.argv[1])
    try:
        outcome = run(spec)
    except Exception as exc:
        traceback.print_exc()
        outcome = {"error": f"{type(exc).__name__}: {exc}"}
    print(RESULT_MARK + json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
