"""The workloads of issue 6, one module each, and what a workload module provides.

A workload module has TITLE, COLUMNS (metric key, column header, format), cases(entry) -> the
runs it wants for one system, and run(ctx) -> {metric: number, or "n/a: reason"}; VARIANTS
orders the rows when its cases have variants.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

from ..base import System
from ..config import PROCESSES, Sizes
from ..probe import ProbeReader
from ..procs import Processes
from ..systems import Entry

WORKLOADS = {
    "W1": "w1_dispatch",
    "W2": "w2_drain",
    "W3": "w3_latency",
    "W4": "w4_progress",
    "W5": "w5_polling",
    "W6": "w6_scale",
    "W7": "w7_streams",
}
Metrics = dict[str, float | str]


@dataclass(frozen=True)
class Case:
    """One kind of run of a workload: a variant (e.g. no-op or sleep) at a concurrency."""

    workload: str
    variant: str = ""
    concurrency: int | None = None  # jobs at a time per worker process; None: no workers

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def title(self) -> str:
        return f"{self.workload} {self.variant}".strip()


@dataclass
class Context:
    """What a workload run gets: the system on its fresh state, and where jobs report."""

    system: System
    case: Case
    sizes: Sizes
    probe: ProbeReader
    notes: list[str] = field(default_factory=list)

    @property
    def timeout(self) -> float:
        """For any one wait inside the run: well inside the run's own budget."""
        return self.sizes.run_budget * 0.8

    def workers(self, concurrency: int | None = None) -> Processes:
        slots = concurrency or self.case.concurrency or 1
        return self.system.workers(PROCESSES, slots)


def load(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{WORKLOADS[name]}")


def concurrency_modes(entry: Entry) -> list[int]:
    """The system's default jobs-at-a-time per process, and 1 (once when they are equal)."""
    return sorted({entry.default_concurrency, 1}, reverse=True)
