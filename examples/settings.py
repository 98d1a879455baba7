"""Where the demo apps keep their own data (not underway's): DEMO_DATA_DIR, default ./demo-data."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    folder = Path(os.environ.get("DEMO_DATA_DIR", "demo-data")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def app_database() -> Path:
    """One SQLite file for both apps' tables (issues, journal entries)."""
    return data_dir() / "apps.db"
