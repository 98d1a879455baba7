"""What the store tests share: a fixed clock, a job that does not exist yet, and the check
that each backend's named queries are all used."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from underway.ids import new_job_id
from underway.model import NewJob
from underway.store.queries import load_migrations, load_queries, parse_queries

# Far from the wall clock, and exact in binary, so every backend stores it without rounding.
NOW = 1_800_000_000.0


def new_job(**fields: Any) -> NewJob:
    defaults: dict[str, Any] = {
        "id": new_job_id(),
        "task": "tests.work",
        "queue": "default",
        "args": {},
        "priority": 0,
        "max_attempts": 1,
        "timeout": None,
        "backoff": 1.0,
        "created_at": NOW,
        "available_at": NOW,
    }
    return NewJob(**{**defaults, **fields})


def assert_every_named_query_is_used(backend: str) -> None:
    """Every named query of a backend is used by one of its package's modules, every name they
    use is defined, names are unique across its .sql files, and its migrations are numbered
    1, 2, ... up to its schema version."""
    package = importlib.import_module(f"underway.store.{backend}")
    assert package.__file__ is not None
    modules = sorted(Path(package.__file__).parent.glob("*.py"))
    source = "\n".join(module.read_text() for module in modules)
    used = set(re.findall(r'\b_?[qQ]\["(\w+)"\]', source))
    names = load_queries(backend)
    assert names
    assert set(names) - used == set(), "named queries nothing uses"
    assert used - set(names) == set(), "queries used but not defined"
    schema = importlib.import_module(f"underway.store.{backend}.schema")
    versions = [migration.version for migration in load_migrations(backend)]
    assert versions == list(range(1, schema.SCHEMA_VERSION + 1))
    twice = [("a.sql", "-- name: x\nSELECT 1;\n"), ("b.sql", "-- name: x\nSELECT 2;\n")]
    with pytest.raises(ValueError, match=r"'x' is defined twice: in a\.sql and in b\.sql"):
        parse_queries(twice)
