"""Outcomes of the runs, gathered per system and case: medians, spreads and reasons."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from .systems import Entry
from .workloads import Case


@dataclass
class Cell:
    """Every repetition of one case on one system."""

    entry: Entry
    case: Case
    values: dict[str, list[float]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # metric or "" -> why
    failures: list[str] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)
    runs: int = 0

    def add(self, outcome: dict[str, Any]) -> None:
        self.runs += 1
        if "unavailable" in outcome:
            self.unavailable[""] = outcome["unavailable"]
        elif "error" in outcome:
            self.failures.append(outcome["error"])
        for name, value in outcome.get("metrics", {}).items():
            if isinstance(value, str):
                self.unavailable[name] = value.removeprefix("n/a: ")
            else:
                self.values.setdefault(name, []).append(float(value))
        self.notes.update(outcome.get("notes", []))

    def median(self, metric: str) -> float | None:
        values = self.values.get(metric)
        return statistics.median(values) if values else None


@dataclass
class Results:
    cells: dict[tuple[str, str, int | None, str], Cell] = field(default_factory=dict)

    def cell(self, entry: Entry, case: Case) -> Cell:
        key = (case.workload, case.variant, case.concurrency, entry.name)
        if key not in self.cells:
            self.cells[key] = Cell(entry, case)
        return self.cells[key]

    def add(self, entry: Entry, case: Case, outcome: dict[str, Any]) -> None:
        self.cell(entry, case).add(outcome)

    def skip(self, entry: Entry, case: Case, reason: str) -> None:
        self.cell(entry, case).unavailable[""] = reason

    def of(self, workload: str, variant: str = "") -> list[Cell]:
        return [c for (w, v, _, _), c in self.cells.items() if w == workload and v == variant]

    def best(
        self, workload: str, variant: str, metric: str, systems: list[str], highest: bool = True
    ) -> tuple[float, Cell] | None:
        """The best median of `metric` over these systems and all their concurrencies."""
        found = [
            (value, cell)
            for cell in self.of(workload, variant)
            if cell.entry.name in systems and (value := cell.median(metric)) is not None
        ]
        if not found:
            return None
        pick = max if highest else min
        return pick(found, key=lambda item: item[0])
