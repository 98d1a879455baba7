"""Demo data, made once: the sample project's lint as open issues, a week of entries per user."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .codefix.issues import STATUSES, IssueRepository
from .codefix.matching import reconcile
from .codefix.scanner import prepare_workspace, scan
from .reports.entries import EntryRepository
from .settings import app_database, data_dir


@dataclass(frozen=True)
class Seeded:
    """What seed() stored (0 when it reused what was there) and what there is now."""

    issues: int
    entries: int
    statuses: dict[str, int]  # every issue, by status
    total_entries: int

    @property
    def total_issues(self) -> int:
        return sum(self.statuses.values())


def seed() -> Seeded:
    """Seed what is missing; a second run reuses what is there, with each issue's status
    checked against the working copy as it is now."""
    issues = IssueRepository(app_database())
    found = 0
    if not issues.all():  # new issues are the lint of a fresh copy of the sample project
        workspace = prepare_workspace(data_dir(), fresh=True)
        found = issues.replace_all(scan(workspace))
    else:
        reconcile(prepare_workspace(data_dir()), issues)
    entries = EntryRepository(app_database())
    stored = entries.seed()
    statuses = Counter(issue.status for issue in issues.all())
    return Seeded(found, stored, {s: statuses[s] for s in STATUSES}, entries.count())


def describe(seeded: Seeded, folder: Path) -> str:
    """One line for the demo's banner: what was seeded, or what is reused and how to reset it."""
    try:
        shown = f"{folder.relative_to(Path.cwd())}/"
    except ValueError:
        shown = f"{folder}/"
    if seeded.issues or seeded.entries:
        return f"seeded {seeded.issues} issues, {seeded.entries} journal entries in {shown}"
    counts = ", ".join(f"{n} {status}" for status, n in seeded.statuses.items())
    return (
        f"reusing {shown} ({seeded.total_issues} issues: {counts}; "
        f"{seeded.total_entries} journal entries); delete {shown} to start over"
    )
