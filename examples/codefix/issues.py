"""The app's own table of code issues: file, line, rule, message, status."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

STATUSES = ("open", "fixed", "failed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS codefix_issues (
    id INTEGER PRIMARY KEY,
    file TEXT NOT NULL,
    line INTEGER NOT NULL,
    col INTEGER NOT NULL,
    rule TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'fixed', 'failed'))
)
"""


@dataclass(frozen=True)
class Issue:
    id: int
    file: str
    line: int
    col: int
    rule: str
    message: str
    status: str


class IssueRepository:
    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as conn:
            conn.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.row_factory = sqlite3.Row
        return conn

    def replace_all(self, found: Iterable[dict[str, object]]) -> int:
        rows = [(f["file"], f["line"], f["col"], f["rule"], f["message"]) for f in found]
        with self._connect() as conn:
            conn.execute("DELETE FROM codefix_issues")
            conn.executemany(
                "INSERT INTO codefix_issues (file, line, col, rule, message) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def all(self) -> list[Issue]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM codefix_issues ORDER BY file, line, col").fetchall()
        return [Issue(**row) for row in rows]

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
