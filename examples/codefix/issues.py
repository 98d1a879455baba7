"""The app's own table of code issues: where each is, what it flags, and its status."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .scanner import SAMPLE_PROJECT, Finding, scan

STATUSES = ("open", "fixed", "failed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS codefix_issues (
    id INTEGER PRIMARY KEY,
    file TEXT NOT NULL,
    line INTEGER NOT NULL,
    col INTEGER NOT NULL,
    rule TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'fixed', 'failed')),
    code TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    above TEXT NOT NULL DEFAULT '',
    below TEXT NOT NULL DEFAULT ''
)
"""
# What an issue flags (see scanner.Finding); tables made before they were kept lack them.
CONTENT_COLUMNS = ("code", "source", "above", "below")


@dataclass(frozen=True)
class Issue:
    """A finding of the seed scan. ``line``/``col`` follow it as fixes move it; it is found
    again by its content (rule, message, code, source, above, below), not by its line."""

    id: int
    file: str
    line: int
    col: int
    rule: str
    message: str
    status: str
    code: str = ""
    source: str = ""
    above: str = ""
    below: str = ""


class IssueRepository:
    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as conn:
            conn.execute(SCHEMA)
            _add_content_columns(conn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.row_factory = sqlite3.Row
        return conn

    def replace_all(self, found: Iterable[Finding]) -> int:
        rows = [
            (f.file, f.line, f.col, f.rule, f.message, f.code, f.source, f.above, f.below)
            for f in found
        ]
        with self._connect() as conn:
            conn.execute("DELETE FROM codefix_issues")
            conn.executemany(
                "INSERT INTO codefix_issues "
                "(file, line, col, rule, message, code, source, above, below) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def all(self) -> list[Issue]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM codefix_issues ORDER BY file, line, col, id"
            ).fetchall()
        return [Issue(**row) for row in rows]

    def in_file(self, file: str) -> list[Issue]:
        return [issue for issue in self.all() if issue.file == file]

    def open_issues(self) -> list[Issue]:
        return [issue for issue in self.all() if issue.status == "open"]

    def get_many(self, ids: list[int]) -> list[Issue]:
        """The issues with these ids, in the order given; unknown ids are left out."""
        by_id = {issue.id: issue for issue in self.all()}
        return [by_id[i] for i in ids if i in by_id]

    def set_status(self, issue_id: int, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        with self._connect() as conn:
            conn.execute("UPDATE codefix_issues SET status = ? WHERE id = ?", (status, issue_id))

    def record_survey(self, surveyed: Iterable[Issue], located: Mapping[int, Finding]) -> None:
        """After a re-scan: the located issues move to where they are now; the others are gone
        from the workspace, so they are fixed, whoever fixed them."""
        with self._connect() as conn:
            for issue in surveyed:
                if (found := located.get(issue.id)) is not None:
                    conn.execute(
                        "UPDATE codefix_issues SET line = ?, col = ? WHERE id = ?",
                        (found.line, found.col, issue.id),
                    )
                else:
                    conn.execute(
                        "UPDATE codefix_issues SET status = 'fixed' WHERE id = ?", (issue.id,)
                    )


def _add_content_columns(conn: sqlite3.Connection) -> None:
    """Upgrade a table from before issues kept their content: fill it in from the sample
    project, which the seed scan read (its lines and columns are the seed scan's)."""
    have = {row["name"] for row in conn.execute("PRAGMA table_info(codefix_issues)")}
    missing = [name for name in CONTENT_COLUMNS if name not in have]
    if not missing:
        return
    for name in missing:
        conn.execute(f"ALTER TABLE codefix_issues ADD COLUMN {name} TEXT NOT NULL DEFAULT ''")
    for f in scan(SAMPLE_PROJECT):
        conn.execute(
            "UPDATE codefix_issues SET code = ?, source = ?, above = ?, below = ? "
            "WHERE file = ? AND line = ? AND col = ? AND rule = ? AND message = ?",
            (f.code, f.source, f.above, f.below, f.file, f.line, f.col, f.rule, f.message),
        )
