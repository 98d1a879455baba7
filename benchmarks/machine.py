"""What the report says about where it ran: the machine, its load, and every version."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import tempfile
from importlib import metadata

import psutil

from .config import POSTGRES_ADMIN_DB, POSTGRES_SERVER, REDIS_HOST, REDIS_PORT


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def describe() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), {memory:.1f} GiB memory, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def scratch_filesystem() -> str:
    """Where the SQLite files live ($TMPDIR): tmpfs would make their commits look free."""
    folder = os.path.realpath(tempfile.gettempdir())
    best = None
    for part in psutil.disk_partitions(all=True):
        inside = folder == part.mountpoint or folder.startswith(part.mountpoint.rstrip("/") + "/")
        if inside and (best is None or len(part.mountpoint) > len(best.mountpoint)):
            best = part
    kind = best.fstype if best else "unknown file system"
    return f"{folder} ({kind}{'; commits cost no disk flush' if kind == 'tmpfs' else ''})"


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def package_version(name: str) -> str:
    if name == "sqlite":
        return f"SQLite library {sqlite3.sqlite_version}"
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return f"{name} (not installed)"


def server_versions() -> list[str]:
    found = []
    try:
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=5)
        found.append(f"Redis server {client.info('server')['redis_version']}")
        client.close()
    except Exception as exc:
        found.append(f"Redis server unknown ({type(exc).__name__})")
    try:
        import psycopg

        with psycopg.connect(f"{POSTGRES_SERVER}/{POSTGRES_ADMIN_DB}", connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            found.append(f"PostgreSQL server {row[0] if row else '?'}")
    except Exception as exc:
        found.append(f"PostgreSQL server unknown ({type(exc).__name__})")
    found.append(f"SQLite library {sqlite3.sqlite_version}")
    return found


def versions(packages: list[str]) -> list[str]:
    names = [p for p in dict.fromkeys(packages) if p != "sqlite"]
    return [package_version(name) for name in names] + server_versions()
