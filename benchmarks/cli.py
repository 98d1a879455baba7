"""`python -m benchmarks`: plan the runs, run each in a process of its own, write the report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import machine, procs, resources
from .config import FULL, QUICK, REDIS_DB, RESULTS, ROOT, Sizes
from .one import RESULT_MARK
from .report import Meta, render
from .results import Results
from .systems import SYSTEMS, Entry
from .workloads import WORKLOADS, Case, load

STOP_GRACE = 30.0  # seconds a run gets to clean up after SIGTERM, before SIGKILL


@dataclass(frozen=True)
class Planned:
    repetition: int
    entry: Entry
    case: Case


def names(text: str | None, known: dict[str, Any], what: str) -> list[str]:
    if not text:
        return list(known)
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="underway against the Python queues people use; writes a Markdown table.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small job counts, one repetition: a smoke run, not a measurement",
    )
    parser.add_argument("--systems", help=f"comma-separated, of: {', '.join(SYSTEMS)}")
    parser.add_argument("--workloads", help=f"comma-separated, of: {', '.join(WORKLOADS)}")
    parser.add_argument("--repeat", type=int, help="repetitions (default 3; 1 with --quick)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="default: %(default)s")
    parser.add_argument(
        "--redis-db",
        type=int,
        default=REDIS_DB,
        help="Redis database the suite owns and flushes (default %(default)s)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds one run may take before it is killed (default: 900; 180 with --quick)",
    )
    parser.add_argument("--list", action="store_true", help="list systems and workloads")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def plan(
    entries: list[Entry], workloads: list[str], repeat: int, results: Results
) -> list[Planned]:
    """Runs in interleaved order; cases a system cannot do go to results as n/a, unrun."""
    runs: list[Planned] = []
    for repetition in range(repeat):
        for workload in workloads:
            cases = {e.name: load(workload).cases(e) for e in entries}
            for i in range(max(len(c) for c in cases.values())):
                for entry in entries:
                    if i >= len(cases[entry.name]):
                        continue
                    case = cases[entry.name][i]
                    if entry.baseline and case.workload in entry.not_applicable:
                        continue  # a baseline is not a queue: no row at all
                    reason = why_not(entry, case)
                    if reason is None:
                        runs.append(Planned(repetition, entry, case))
                    elif repetition == 0:
                        results.skip(entry, case, reason)
    return runs


def why_not(entry: Entry, case: Case) -> str | None:
    if case.workload in entry.not_applicable:
        return entry.not_applicable[case.workload]
    limit = entry.max_concurrency
    if limit is not None and case.concurrency is not None and case.concurrency > limit:
        return f"{entry.label} runs at most {limit} job at a time per worker process"
    return None


def execute(planned: Planned, sizes: Sizes, redis_db: int, log: Path) -> dict[str, Any]:
    """Run one case in a new session; kill it and everything it started if it overruns.
    Its own output goes to `log`, its workers' and server's beside it (LOG without .log)."""
    entry, token = planned.entry, secrets.token_hex(4)
    spec = {
        "system": entry.name,
        "case": planned.case.to_json(),
        "sizes": sizes.to_json(),
        "token": token,
        "redis_db": redis_db,
        "logs": str(log.with_suffix("")),
    }
    command = [sys.executable, "-m", "benchmarks.one", json.dumps(spec)]
    outcome: dict[str, Any] = {"error": f"no result (see {log})"}
    with open(log, "wb") as err:
        run = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, start_new_session=True
        )
        try:
            out, _ = run.communicate(timeout=sizes.run_budget)
        except subprocess.TimeoutExpired:
            run.terminate()
            try:
                out, _ = run.communicate(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                out = b""
            outcome = {"error": f"killed after its {sizes.run_budget:.0f} s budget (see {log})"}
        finally:
            procs.kill_group(run.pid)
            run.wait()
            redis = redis_db if entry.backend == "redis" else None
            try:
                resources.cleanup(token, redis, postgres=entry.backend == "postgres")
            except Exception as exc:  # the service may be down; say so and go on
                print(f"\nwarning: cleaning up after run {token}: {exc}", file=sys.stderr)
    for line in out.decode(errors="replace").splitlines():
        if line.startswith(RESULT_MARK) and "killed" not in outcome.get("error", ""):
            outcome = json.loads(line.removeprefix(RESULT_MARK))
    return outcome


def summary(outcome: dict[str, Any]) -> str:
    if "unavailable" in outcome:
        return f"not available: {outcome['unavailable']}"
    if "error" in outcome:
        return f"FAILED: {outcome['error']}"
    parts = []
    for name, value in outcome["metrics"].items():
        parts.append(f"{name}={value:,.2f}" if isinstance(value, float | int) else f"{name}=n/a")
    return " ".join(parts)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.list:
        for entry in SYSTEMS.values():
            print(f"{entry.name:18} {entry.label}")
        for name in WORKLOADS:
            print(f"{name:18} {load(name).TITLE}")
        return
    sizes = QUICK if args.quick else FULL
    if args.budget:
        sizes = dataclasses.replace(sizes, run_budget=args.budget)
    repeat = args.repeat or (1 if args.quick else 3)
    entries = [SYSTEMS[name] for name in names(args.systems, SYSTEMS, "systems")]
    workloads = names(args.workloads, WORKLOADS, "workloads")
    results = Results()
    runs = plan(entries, workloads, repeat, results)
    logs = Path(tempfile.mkdtemp(prefix="underway-bench-logs-"))
    started, load_before = now(), machine.load_average()
    print(f"{len(runs)} runs; logs in {logs}", file=sys.stderr)
    for i, planned in enumerate(runs, 1):
        case, entry = planned.case, planned.entry
        slots = f" x{case.concurrency}" if case.concurrency else ""
        label = f"[{i}/{len(runs)}] {case.title} | {entry.label}{slots}"
        print(label, end=" ... ", file=sys.stderr, flush=True)
        begun = time.monotonic()
        log = logs / f"{i:03d}-{entry.name}-{case.workload}.log"
        outcome = execute(planned, sizes, args.redis_db, log)
        results.add(entry, case, outcome)
        print(f"{summary(outcome)} ({time.monotonic() - begun:.1f} s)", file=sys.stderr)
    meta = Meta(
        started=started,
        finished=now(),
        machine=machine.describe(),
        scratch=machine.scratch_filesystem(),
        load_before=load_before,
        load_after=machine.load_average(),
        quick=args.quick,
        repeat=repeat,
        sizes=sizes,
        entries=entries,
        workloads=workloads,
        versions=machine.versions([p for e in entries for p in e.packages]),
        logs=str(logs),
    )
    text = render(results, meta)
    args.output.write_text(text)
    print(text)
    print(f"written to {args.output}", file=sys.stderr)
