"""The targets of issue 6, checked against a run's medians, and the ratios they ask for.

Each system is taken at its best concurrency (the best median over the concurrencies run).
"""

from __future__ import annotations

from dataclasses import dataclass

from .results import Cell, Results
from .systems import SYSTEMS
from .workloads.w2_drain import NOOP

SQLITE, POSTGRES = "underway-sqlite", "underway-postgres"
BACKENDS = ((SQLITE, "SQLite"), (POSTGRES, "PostgreSQL"))
RATE = "jobs/s"
PEERS = tuple(e.name for e in SYSTEMS.values() if not e.baseline and "underway" not in e.name)


@dataclass(frozen=True)
class Target:
    text: str
    where: tuple[str, str, str]  # workload, variant, metric
    system: str
    limit: float
    at_least: bool = True  # else: below the limit
    versus: tuple[str, ...] = ()  # a ratio to the best of these systems
    unit: str = ""


@dataclass(frozen=True)
class Row:
    target: str
    measured: str
    verdict: str  # "met", "not met" or "n/a"


def _targets() -> list[Target]:
    drain, single, bulk = ("W2", NOOP, "jobs_s"), ("W1", "", "single"), ("W1", "", "bulk")
    found = [
        Target("W2 no-op drain, underway/SQLite >= 10,000 jobs/s", drain, SQLITE, 10_000,
               unit=RATE),
        Target("W2 no-op drain, underway/SQLite >= 3x the fastest peer", drain, SQLITE, 3,
               versus=PEERS),
        Target("W2 no-op drain, underway/PostgreSQL >= 5,000 jobs/s", drain, POSTGRES, 5_000,
               unit=RATE),
        Target("W2 no-op drain, underway/PostgreSQL >= 10x procrastinate", drain, POSTGRES, 10,
               versus=("procrastinate",)),
        Target("W1 single dispatch, underway/SQLite >= 15,000 jobs/s", single, SQLITE, 15_000,
               unit=RATE),
        Target("W1 single dispatch, underway/PostgreSQL >= 80 % of raw PostgreSQL (one commit "
               "per job)", single, POSTGRES, 0.8, versus=("raw-postgres",)),
        Target("W1 bulk dispatch, underway/SQLite >= 100,000 jobs/s", bulk, SQLITE, 100_000,
               unit=RATE),
        Target("W1 bulk dispatch, underway/PostgreSQL >= 30,000 jobs/s", bulk, POSTGRES, 30_000,
               unit=RATE),
        Target("W3 pickup p50, underway/SQLite < 10 ms", ("W3", "", "p50"), SQLITE, 10, False,
               unit="ms"),
        Target("W3 pickup p50, underway/PostgreSQL < 3 ms", ("W3", "", "p50"), POSTGRES, 3, False,
               unit="ms"),
    ]  # fmt: skip
    for system, name in BACKENDS:
        found += [
            Target(f"W3 idle worker, underway/{name} < 2 % of a core", ("W3", "", "idle_cpu"),
                   system, 2, False, unit="%"),
            Target(f"Idle worker, underway/{name}: every process < 60 MB RSS",
                   ("W3", "", "idle_rss"), system, 60, False, unit="MB"),
            Target(f"W4 progress update, underway/{name} < 5 µs per call",
                   ("W4", "", "progress_us"), system, 5, False, unit="µs"),
            Target(f"W4 add_result, underway/{name} < 5 µs per call", ("W4", "", "result_us"),
                   system, 5, False, unit="µs"),
            Target(f"W4 writes, underway/{name} <= 5 per second of the job (1 s minimum)",
                   ("W4", "", "writes_per_s"), system, 5.0001, False),
            Target(f"W6 history/empty cost, underway/{name} < 1.3", ("W6", "", "ratio"), system,
                   1.3, False),
            Target(f"W7 event delay p99, underway/{name}, all watchers < 500 ms",
                   ("W7", "", "p99"), system, 500, False, unit="ms"),
            Target(f"W7 server process, underway/{name}, all watchers < 1 core",
                   ("W7", "", "server_cpu"), system, 1, False, unit="cores"),
            Target(f"W7 store reads/s independent of watchers, underway/{name}: all/few < 1.2",
                   ("W7", "", "reads_ratio"), system, 1.2, False),
        ]  # fmt: skip
    return found


def _where(cell: Cell) -> str:
    slots = f", {cell.case.concurrency} at a time per process" if cell.case.concurrency else ""
    return f"{cell.entry.label}{slots}"


def check(results: Results, target: Target) -> Row:
    workload, variant, metric = target.where
    mine = results.best(workload, variant, metric, [target.system], target.at_least)
    if mine is None:
        return Row(target.text, "not measured", "n/a")
    value, cell = mine
    unit = f" {target.unit}" if target.unit else ""
    measured = f"{value:,.2f}{unit} ({_where(cell)})"
    if target.versus:
        other = results.best(workload, variant, metric, list(target.versus), target.at_least)
        if other is None:
            return Row(target.text, f"{measured}; nothing to compare with", "n/a")
        theirs, their_cell = other
        value = value / theirs
        measured = f"{value:.2f}x: {mine[0]:,.0f} ({_where(cell)}) vs {theirs:,.0f} "
        measured += f"({_where(their_cell)})"
    ok = value >= target.limit if target.at_least else value < target.limit
    return Row(target.text, measured, "met" if ok else "not met")


def rows(results: Results, workloads: list[str]) -> list[Row]:
    """The targets of the workloads that were run."""
    return [check(results, t) for t in _targets() if t.where[0] in workloads]
