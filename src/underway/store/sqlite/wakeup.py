"""The SQLite store's wake-up: no descriptor to wait on, a cheap change check to poll instead.

PRAGMA data_version moves when another connection commits to the file; this store remembers the
value it last saw (written by whichever thread polls, normally the worker's claim loop).
"""

from __future__ import annotations

from ...settings import DatabaseURL
from .connection import SQLiteConnection


class SQLiteWakeup(SQLiteConnection):
    def __init__(self, url: DatabaseURL) -> None:
        super().__init__(url)
        self._data_version: int | None = None

    def work_wake_fd(self) -> int | None:
        return None

    def work_changed(self) -> bool:
        # data_version moves when another connection commits; one of ours never moves it.
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        changed = version != self._data_version
        self._data_version = version
        return changed
