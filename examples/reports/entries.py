"""The app's own journal entries, each belonging to one user."""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_entries (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    date TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    mood TEXT
)
"""

USERS = {"alice": "Alice (backend developer)", "bob": "Bob (designer)"}

WEEK = {
    "alice": [
        (
            "Queue time-outs again",
            "The export endpoint timed out at 30 seconds again. Moved the "
            "export into a background job and the request now answers at once.",
            "tired",
        ),
        (
            "Progress page",
            "Built a progress page with a bar and the current file. Users can "
            "finally see the export moving instead of staring at a spinner.",
            "good",
        ),
        (
            "Retries and backoff",
            "Flaky upstream API: added retries with exponential backoff. "
            "Three tries cover every failure we saw this week.",
            "focused",
        ),
        (
            "Memory leak hunt",
            "A worker grew to 900 MB overnight. Capped worker memory so the "
            "process is replaced after a job; the leak itself is in the PDF library.",
            "annoyed",
        ),
        (
            "Code review day",
            "Reviewed the checkpoint change: an interrupted export now resumes "
            "where it stopped instead of starting over.",
            "good",
        ),
        (
            "Load test",
            "Pushed ten thousand jobs through the queue. Throughput held, progress "
            "writes stayed cheap, and no job ran twice.",
            "proud",
        ),
        (
            "Quiet Sunday",
            "Wrote the runbook for workers: how to start them, what the dashboard "
            "shows, and what to do when no worker is running.",
            "calm",
        ),
    ],
    "bob": [
        (
            "Dashboard sketches",
            "Sketched the jobs dashboard: queues, failures and a live "
            "progress bar that works on a phone.",
            "curious",
        ),
        (
            "Colour for results",
            "Green and red per result row, with the message beside it. "
            "Tested the contrast for colour-blind users.",
            "good",
        ),
        (
            "User interviews",
            "Three users said the worst part is not knowing whether anything is "
            "happening. A live current-item line fixes most of that.",
            "inspired",
        ),
        (
            "Empty states",
            "Designed the empty states, including the warning when no worker is "
            "running and how to start one.",
            "focused",
        ),
        (
            "Report page",
            "Designed the weekly report page: pick entries, press the button, "
            "watch it weave, then read the report.",
            "happy",
        ),
        (
            "Accessibility pass",
            "Keyboard navigation and focus rings on every button; the "
            "progress bar announces its percent.",
            "proud",
        ),
        ("Rest", "Walked by the river and thought about fewer, calmer notifications.", "calm"),
    ],
}
FIRST_DAY = datetime.date(2026, 2, 1)


@dataclass(frozen=True)
class Entry:
    id: int
    user_id: str
    date: str
    title: str
    text: str
    mood: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class EntryRepository:
    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as conn:
            conn.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.row_factory = sqlite3.Row
        return conn

    def seed(self) -> int:
        """Give each demo user a week of entries, once."""
        with self._connect() as conn:
            if conn.execute("SELECT count(*) FROM journal_entries").fetchone()[0]:
                return 0
            rows = [
                (user, (FIRST_DAY + datetime.timedelta(days=day)).isoformat(), title, text, mood)
                for user, week in WEEK.items()
                for day, (title, text, mood) in enumerate(week)
            ]
            conn.executemany(
                "INSERT INTO journal_entries (user_id, date, title, text, mood) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT count(*) FROM journal_entries").fetchone()[0])

    def for_user(self, user_id: str) -> list[Entry]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM journal_entries WHERE user_id = ? ORDER BY date, id", (user_id,)
            ).fetchall()
        return [Entry(**row) for row in rows]

    def owned(self, user_id: str, entry_ids: list[int]) -> list[Entry]:
        """The user's entries with these ids; raises LookupError naming ids that are not theirs."""
        mine = {entry.id: entry for entry in self.for_user(user_id)}
        foreign = [i for i in entry_ids if i not in mine]
        if foreign:
            raise LookupError(f"entries {foreign} do not belong to {user_id}")
        return [mine[i] for i in sorted(set(entry_ids), key=lambda i: (mine[i].date, i))]
