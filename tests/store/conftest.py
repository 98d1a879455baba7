from __future__ import annotations

from collections.abc import Iterator

import pytest

from underway.store import Store, open_store


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A fresh, migrated store, once per backend."""
    opened = open_store(database_url)
    opened.schema_ensure()
    yield opened
    opened.close()
