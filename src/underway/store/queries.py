"""Named SQL queries kept in .sql files, one file per backend, as `-- name: query_name` blocks."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@cache
def load_queries(backend: str) -> dict[str, str]:
    text = resources.files(__package__).joinpath("sql", backend, "queries.sql").read_text()
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice in {backend}/queries.sql")
        queries[name] = body.strip()
    return queries
