"""Storage: the only door to persistence. open_store(url) picks the backend by the URL's scheme
and imports it lazily (so `import underway` needs no database driver).

- base.py      the Store protocol: a docstring per operation is the contract every backend keeps
- rows.py      what every backend computes the same way (rows to records, query parameters)
- queries.py   named SQL and numbered migrations, read from sql/<backend>/
- sqlite/      the default backend, a package of one module per area
- postgres/    the backend for many machines, the same areas

A new area of the store (batches, limits, schedules...) is an operation group in base.py, a
module and a .sql file in each backend, and a file in tests/store/contract/.
"""

from __future__ import annotations

from ..errors import ConfigurationError
from ..model import ClaimRequest, Lease, Outcome, ProgressWrite
from ..settings import parse_database_url
from .base import JobPage, Stats, Store, WorkerInfo

__all__ = [
    "ClaimRequest",
    "JobPage",
    "Lease",
    "Outcome",
    "ProgressWrite",
    "Stats",
    "Store",
    "WorkerInfo",
    "open_store",
]

POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})


def open_store(url: str) -> Store:
    parsed = parse_database_url(url)
    if parsed.scheme == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore(parsed)
    if parsed.scheme in POSTGRES_SCHEMES:
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise ConfigurationError(
                f"database URL {url!r} needs the PostgreSQL backend: "
                f"pip install 'underway[postgres]' ({exc})"
            ) from exc
        return PostgresStore(parsed)
    raise ConfigurationError(
        f"database URL {url!r}: unknown scheme {parsed.scheme!r} (use sqlite:/// or postgresql://)"
    )
