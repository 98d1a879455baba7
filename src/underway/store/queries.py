"""Named SQL queries and numbered migrations kept in .sql files, one folder per backend.

``sql/<backend>/<area>.sql`` hold ``-- name: query_name`` blocks, one file per area of the store
(jobs, attempts, workers, ...); a backend's names are unique across all its files, so any of its
modules may use any of them. Text before a file's first name is a comment for people.

``sql/<backend>/migrations/NNN_<name>.sql`` are the schema's steps, applied in number order from
001; the highest number is the schema version. A step is split into statements at ";", so its
comments hold no ";" (nor, for PostgreSQL, braces: {schema} is formatted into it). A body that
holds statements of its own stays whole: a function's $$ ... $$, and a trigger's BEGIN ... END
(within which no statement may end in the word END: put a CASE ... END in parentheses).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d+)_(\w+)\.sql$")
_COMMENT = re.compile(r"--[^\n]*")
_TRIGGER_BODY = re.compile(r"\bCREATE\s+TRIGGER\b.*\bBEGIN\b", re.IGNORECASE | re.DOTALL)
_BODY_END = re.compile(r"\bEND\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        found: list[str] = []
        pending: list[str] = []
        for piece in self.sql.split(";"):
            pending.append(piece)
            text = ";".join(pending)
            if _inside_body(text):
                continue
            if text.strip():
                found.append(text)
            pending = []
        if any(piece.strip() for piece in pending):
            found.append(";".join(pending))
        return found


def _inside_body(text: str) -> bool:
    """True while text ends inside a body whose statements end in ";" of their own."""
    code = _COMMENT.sub("", text)
    if code.count("$$") % 2:
        return True
    return bool(_TRIGGER_BODY.search(code)) and not _BODY_END.search(code)


def _folder(backend: str) -> Traversable:
    return resources.files(__package__).joinpath("sql", backend)


def parse_queries(files: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The named queries of (file name, text) pairs; ValueError when a name is defined twice."""
    queries: dict[str, str] = {}
    defined_in: dict[str, str] = {}
    for filename, text in files:
        parts = _NAME.split(text)
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in queries:
                raise ValueError(
                    f"query {name!r} is defined twice: in {defined_in[name]} and in {filename}"
                )
            queries[name] = body.strip()
            defined_in[name] = filename
    return queries


@cache
def load_queries(backend: str) -> dict[str, str]:
    """Every named query of a backend's .sql files (migrations/ aside)."""
    files = sorted(
        (f"{backend}/{entry.name}", entry.read_text())
        for entry in _folder(backend).iterdir()
        if entry.is_file() and entry.name.endswith(".sql")
    )
    return parse_queries(files)


@cache
def load_migrations(backend: str) -> tuple[Migration, ...]:
    """A backend's schema steps in order: versions 1, 2, ... with none missing or repeated."""
    found: list[Migration] = []
    for entry in _folder(backend).joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION.match(entry.name)
        if match is None:
            raise ValueError(f"{backend}/migrations/{entry.name}: name it NNN_<name>.sql")
        found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"{backend}/migrations: versions {versions} are not 1, 2, 3, ...")
    return tuple(found)


def schema_version(backend: str) -> int:
    """The version a schema has once every migration of the backend is applied."""
    return load_migrations(backend)[-1].version
