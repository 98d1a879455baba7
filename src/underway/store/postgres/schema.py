"""The PostgreSQL schema: recognising it as underway's, and migrating it.

Everything lives in one PostgreSQL schema (default ``underway``, chosen by ``?schema=NAME`` in
the URL). Its table schema_migrations holds a row per migration applied
(sql/postgres/migrations/); a schema holding tables but not that one is another application's,
and one with a newer version than this underway's is refused, both left untouched. Migrations
run under an advisory lock per schema name, so that of many processes starting at once one
migrates and the others find the schema current. Queries in sql/postgres/schema.sql.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import DictRow

from ...errors import StoreError
from ..queries import load_migrations, schema_version
from .connection import PostgresConnection

SCHEMA_VERSION = schema_version("postgres")
MIGRATIONS = load_migrations("postgres")
# "undw": the advisory lock class under which schemas are migrated, one lock per schema name.
LOCK_CLASS = 0x756E6477


class PostgresSchema(PostgresConnection):
    def schema_ensure(self) -> None:
        if self._schema_ready:
            return
        with self._connection(ensure=False) as conn:
            if self._schema_state(conn) != SCHEMA_VERSION:
                try:
                    with conn.transaction():
                        # Ten workers starting at once: one migrates, the others wait for its
                        # lock, then find the schema current.
                        conn.execute(
                            self._q["schema_lock"],
                            {"lock_class": LOCK_CLASS, "schema": self.schema},
                        )
                        self._migrate(conn, self._schema_state(conn))
                except pg_errors.InsufficientPrivilege as exc:
                    raise StoreError(
                        f"cannot create or migrate schema {self.schema!r} in {self.where}: {exc}; "
                        "run `underway migrate` as a user who may (CREATE on the database, or "
                        "owner of the schema)"
                    ) from None
        self._schema_ready = True

    def _schema_state(self, conn: psycopg.Connection[DictRow]) -> int | None:
        """The schema's version; None when the schema or its tables do not exist yet."""
        row = conn.execute(self._q["schema_inspect"], {"schema": self.schema}).fetchone()
        assert row is not None
        tables = list(row["tables"] or [])
        if not row["present"] or not tables:
            return None
        if "schema_migrations" not in tables:
            raise StoreError(
                f"schema {self.schema!r} in {self.where} is not underway's (it holds tables: "
                f"{', '.join(tables)}); refusing to touch it. Choose another with ?schema=NAME"
            )
        version_row = conn.execute(self._q["schema_version"]).fetchone()
        version = version_row["version"] if version_row else None
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"schema {self.schema!r} in {self.where} has version {version}, newer than this "
                f"underway ({SCHEMA_VERSION}); upgrade underway"
            )
        return int(version) if version is not None else None

    def _migrate(self, conn: psycopg.Connection[DictRow], version: int | None) -> None:
        if version == SCHEMA_VERSION:
            return
        row = conn.execute(self._q["schema_inspect"], {"schema": self.schema}).fetchone()
        if row is None or not row["present"]:
            # Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even
            # when a DBA already made the schema for us.
            conn.execute(self._q["schema_create"])
        if version is None:
            conn.execute(self._q["schema_migrations_create"])
        for migration in MIGRATIONS[version or 0 :]:
            for statement in migration.statements():
                conn.execute(self._sql(statement))
            conn.execute(
                self._q["schema_version_insert"], {"version": migration.version, "now": time.time()}
            )
