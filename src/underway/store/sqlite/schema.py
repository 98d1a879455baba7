"""The SQLite schema: recognising the file as underway's, and migrating it.

The file says whose it is and which schema it holds in its header: PRAGMA application_id marks
it as underway's, PRAGMA user_version is the number of the last migration applied
(sql/sqlite/migrations/). A file that is another application's, or newer than this underway,
is refused and left exactly as it was. schema_ensure() runs once per store object, under its
own lock, on a connection of its own.
"""

from __future__ import annotations

import sqlite3

from ...errors import StoreError
from ..queries import load_migrations, schema_version
from .connection import SQLiteConnection

# "undw": marks a file as underway's so that a foreign database is never written to.
APPLICATION_ID = 0x756E6477
SCHEMA_VERSION = schema_version("sqlite")
MIGRATIONS = load_migrations("sqlite")


class SQLiteSchema(SQLiteConnection):
    def schema_ensure(self) -> None:
        with self._schema_lock:
            if self._schema_ready:
                return
            try:
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a usable SQLite database: {exc}") from exc
            try:
                self._migrate(conn)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a usable SQLite database: {exc}") from exc
            finally:
                conn.close()
            self._schema_ready = True

    def _migrate(self, conn: sqlite3.Connection) -> None:
        # Look before writing anything (WAL mode is a write too): a file that is not ours stays
        # as it was, and a current schema takes no write lock, which a caller's own transaction
        # (transactional dispatch) may be holding.
        conn.execute("BEGIN")  # one snapshot: another process may be creating the schema
        try:
            version = self._schema_version(conn)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        self._use_wal(conn)
        if version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created the schema since we looked.
            found = self._schema_version(conn)
            for migration in MIGRATIONS[found:]:
                for statement in migration.statements():
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _schema_version(self, conn: sqlite3.Connection) -> int:
        """The file's schema version, 0 when empty; StoreError when it is not ours or newer."""
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        # Any schema object (table, view, index, trigger) makes an unmarked file someone else's.
        held = conn.execute("SELECT type, name FROM sqlite_master ORDER BY type, name").fetchall()
        if app_id != APPLICATION_ID and (app_id != 0 or held):
            objects = ", ".join(f"{kind} {name}" for kind, name in held)
            raise StoreError(
                f"{self.path} is not an underway database (it holds {objects or 'no tables'}); "
                "refusing to touch it"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this underway "
                f"({SCHEMA_VERSION}); upgrade underway"
            )
        return version
