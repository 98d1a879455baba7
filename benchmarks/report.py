"""The Markdown report: where and how it ran, the targets, one table per workload."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from . import targets
from .config import PROCESSES, SLEEP_SLOTS, Sizes
from .results import Cell, Results
from .stats import spread
from .systems import SYSTEMS, Entry
from .workloads import load

METHOD = f"""\
## Method

- Every run starts from fresh state (a new SQLite file, a new PostgreSQL database, or the
  suite's Redis database flushed before and after), in a process of its own that stops every
  process it started; a run over its time budget is killed with all its processes.
- Runs are interleaved: each repetition runs every system once per case before the next
  repetition starts. Cells show the median, and (min-max) over the repetitions.
- Workers run jobs in {PROCESSES} OS processes for every system (a supervisor or parent process
  that runs no job comes on top where the system has one). "Slots" is jobs at a time per
  process: each system at its default, and at 1; the 10 ms sleep drain at {SLEEP_SLOTS}.
- Jobs report their own start and finish (one `write(2)` to a file per job, the same for every
  system); W2 is measured from the first start to the last finish, W3 from the moment the
  dispatch call began to the job's start (one monotonic clock for every process).
- The no-op job is a plain `def` everywhere but SAQ, whose functions are coroutines; the 10 ms
  sleep is `async def` where the system runs coroutines (underway, Dramatiq with its AsyncIO
  middleware, SAQ, procrastinate) and `time.sleep` in a pool slot elsewhere (Celery threads
  pool, Huey threads).
- W3 idle CPU and memory: the worker's whole process tree (not the database or broker) over an
  idle window after a warm-up; memory is the largest single process.
- W4 calls each system's own progress API: underway `job.progress(processed=i)` and
  `job.add_result(r)`; Celery `update_state(state="PROGRESS", meta=...)`, RQ `job.meta` with
  `job.save_meta()`, SAQ `await job.update(progress=...)` (results accumulate in the meta,
  which these save whole on every call). Dramatiq, Huey and procrastinate have none.
- W4 writes: for underway, updates of the job's row counted by a trigger (each write
  transaction - claim, progress flush, lease renewal, finish - updates it once; result rows
  ride in the same transaction); for Redis systems, write commands the Redis server executed
  (server-wide) from just before the job was dispatched to 1 s after it ended.
- W5: the HTTP clients run in one Python process (benchmarks/httpget.py, a minimal keep-alive
  client on asyncio streams, one connection each) on the same machine; its CPU is shown, so a
  client-bound result can be told apart.
- W6: claim one job and mark it finished, in a loop, through the system's own store API (not a
  worker), before and after a history of finished jobs is added by cloning a finished job's
  row, then `VACUUM ANALYZE` on PostgreSQL.
- W7: jobs (`async def`) advance every 100 ms and put `time.time()` in `progress.current`;
  the watchers (benchmarks/sse.py: raw asyncio protocols, all in one process with the run,
  whose CPU is shown) subtract it from each event's arrival when it brings a new one. So the
  delay includes the worker's coalescing of progress writes (at most one per 100 ms here), and
  "to the store" is that part alone: the jobs' rows read every 10 ms, before any stream opens.
  Server CPU is user+system time of `underway serve` over the window; store reads/s is its
  `underway_stream_store_reads_total` counter. The few watchers' window comes first, then more
  streams open on the same server and jobs for the window with all of them.
- Traffic goes only to 127.0.0.1. Database and broker share the machine's cores with workers.
"""


@dataclass(frozen=True)
class Meta:
    started: str
    finished: str
    machine: str
    scratch: str
    load_before: str
    load_after: str
    quick: bool
    repeat: int
    sizes: Sizes
    entries: list[Entry]
    workloads: list[str]
    versions: list[str]
    logs: str


class Footnotes:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def mark(self, text: str) -> str:
        text = " ".join(text.split()).replace("|", "\\|")
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"

    def lines(self) -> list[str]:
        return [f"{i}. {text}" for i, text in enumerate(self.texts, 1)]


def slots(cell: Cell) -> str:
    c = cell.case.concurrency
    if c is None:
        return "-"
    return f"{c} (default)" if c == cell.entry.default_concurrency else str(c)


def value_text(values: list[float], fmt: str) -> str:
    median, low, high = spread(values)
    if len(values) == 1:
        return fmt.format(median)
    return f"{fmt.format(median)} ({fmt.format(low)}-{fmt.format(high)})"


def metric_text(cell: Cell, metric: str, fmt: str, notes: Footnotes) -> str:
    if metric in cell.values:
        return value_text(cell.values[metric], fmt)
    why = cell.unavailable.get("") or cell.unavailable.get(metric)
    if why:
        return f"n/a {notes.mark(why)}"
    if cell.failures:
        return f"failed {notes.mark(cell.failures[-1])}"
    return "-"


def system_text(cell: Cell, notes: Footnotes) -> str:
    marks = [notes.mark(n) for n in sorted(cell.notes)]
    if cell.failures and cell.values:
        marks.append(
            notes.mark(f"{len(cell.failures)} of {cell.runs} runs failed: {cell.failures[-1]}")
        )
    return " ".join([cell.entry.label, *marks])


def order(cell: Cell, variants: list[str]) -> tuple[int, int, int]:
    """By job variant, then as SYSTEMS lists them, the default concurrency before 1."""
    names = list(SYSTEMS)
    concurrency = cell.case.concurrency or 0
    return variants.index(cell.case.variant), names.index(cell.entry.name), -concurrency


def workload_table(results: Results, name: str, module: ModuleType) -> list[str]:
    cells = [c for (w, *_), c in results.cells.items() if w == name]
    if not cells:
        return []
    variants = getattr(module, "VARIANTS", [""])
    cells.sort(key=lambda c: order(c, variants))
    notes = Footnotes()
    show_variant = any(variants)
    headers = ["system", *(["job"] if show_variant else []), "slots/process"]
    headers += [header for _, header, _ in module.COLUMNS]
    lines = [f"## {module.TITLE}", "", "| " + " | ".join(headers) + " |"]
    lines.append("|" + "---|" * len(headers))
    for cell in cells:
        row = [system_text(cell, notes), *([cell.case.variant] if show_variant else [])]
        row.append(slots(cell))
        if cell.unavailable.get("") and not cell.values:
            # Nothing measured: say why once, not in every column.
            row += [metric_text(cell, "", "", notes)] + [""] * (len(module.COLUMNS) - 1)
        else:
            row += [metric_text(cell, metric, fmt, notes) for metric, _, fmt in module.COLUMNS]
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, "", *notes.lines(), ""]


def header(meta: Meta) -> list[str]:
    s = meta.sizes
    lines = ["# underway benchmarks", ""]
    if meta.quick:
        lines += [
            "**Smoke run (`--quick`): small job counts and one repetition. These numbers show "
            "that every runner works; they are not measurements.**",
            "",
        ]
    lines += [
        f"- Date: {meta.started} to {meta.finished}",
        f"- Machine: {meta.machine}",
        f"- SQLite files and scratch in {meta.scratch}",
        f"- Load average (1/5/15 min) before: {meta.load_before}; after: {meta.load_after}",
        f"- Repetitions: {meta.repeat} (median, min-max); worker processes: {PROCESSES}",
        f"- Jobs: W1 {s.dispatch_jobs:,} (bulk in chunks of {s.bulk_chunk:,}); W2 "
        f"{s.drain_jobs:,} no-op and {s.sleep_jobs:,} sleep; W3 {s.latency_jobs:,} "
        f"{s.latency_gap * 1000:g} ms apart, idle window {s.idle_seconds:g} s; W4 "
        f"{s.progress_updates:,} updates and {s.progress_results:,} results; W5 "
        f"{s.poll_clients} clients for {s.poll_seconds:g} s over {s.poll_jobs:,} jobs; W6 "
        f"{s.history_jobs:,} finished jobs of history, {s.scale_jobs:,} timed cycles; W7 "
        f"{s.stream_watchers:,} event streams (few: {s.stream_few_watchers:,}) over "
        f"{s.stream_jobs:,} running jobs for {s.stream_seconds:g} s (few: "
        f"{s.stream_few_seconds:g} s)",
        f"- Versions: {', '.join(meta.versions)}",
        f"- Run logs: {meta.logs}",
        "",
    ]
    return lines


def targets_table(results: Results, workloads: list[str]) -> list[str]:
    lines = [
        "## Targets of issues 6 and 12 (ratios as asked)",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    found = targets.rows(results, workloads)
    if not found:
        return []
    lines += [f"| {r.target} | {r.measured} | {r.verdict} |" for r in found]
    return [*lines, ""]


def configurations(entries: list[Entry]) -> list[str]:
    lines = [
        "## Configurations (each system's usual production set-up)",
        "",
        "| system | how it runs | default jobs at a time per process |",
        "|---|---|---|",
    ]
    lines += [f"| {e.label} | {e.production} | {e.default_concurrency} |" for e in entries]
    return [*lines, ""]


def render(results: Results, meta: Meta) -> str:
    lines = header(meta) + targets_table(results, meta.workloads)
    for name in meta.workloads:
        lines += workload_table(results, name, load(name))
    lines += configurations(meta.entries)
    return "\n".join(lines) + "\n" + METHOD
