"""Demo data, made once: the sample project's lint as open issues, a week of entries per user."""

from __future__ import annotations

from .codefix.issues import IssueRepository
from .codefix.scanner import prepare_workspace, scan
from .reports.entries import EntryRepository
from .settings import app_database, data_dir


def seed() -> dict[str, int]:
    """Seed what is missing; a second run reuses what is there."""
    issues = IssueRepository(app_database())
    found = 0
    if not issues.all():
        workspace = prepare_workspace(data_dir())
        found = issues.replace_all(scan(workspace))
    entries = EntryRepository(app_database()).seed()
    return {"issues": found, "entries": entries}
