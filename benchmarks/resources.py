"""Fresh state for one run, and its removal: a scratch folder (probe file, SQLite files, logs),
a PostgreSQL database of its own, or the suite's Redis database flushed before and after."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import (
    POSTGRES_ADMIN_DB,
    POSTGRES_DB_PREFIX,
    POSTGRES_SERVER,
    REDIS_HOST,
    REDIS_PORT,
    ROOT,
)

BACKENDS = ("sqlite", "postgres", "redis")
SCRATCH_PREFIX = "underway-bench-"


class NotAvailable(Exception):
    """The system (or this part of a workload) cannot run here; the message says why."""


class ServiceDown(RuntimeError):
    """PostgreSQL or Redis does not answer: the run fails (it is not the system's fault)."""


@dataclass(frozen=True)
class Resources:
    token: str
    backend: str
    scratch: Path
    sqlite_path: Path
    postgres_url: str
    redis_db: int
    redis_url: str
    logs: Path  # where worker and server output goes; kept after the run

    @property
    def probe(self) -> Path:
        return self.scratch / "probe.log"

    def env(self) -> dict[str, str]:
        """What worker processes (and the system modules they import) read."""
        path = os.environ.get("PYTHONPATH")
        return {
            "BENCH_BACKEND": self.backend,
            "BENCH_PROBE": str(self.probe),
            "BENCH_SCRATCH": str(self.scratch),
            "BENCH_SQLITE": str(self.sqlite_path),
            "BENCH_POSTGRES": self.postgres_url,
            "BENCH_REDIS": self.redis_url,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
        }


def database_name(token: str) -> str:
    return f"{POSTGRES_DB_PREFIX}{token}"


def redis_url(db: int) -> str:
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"


@contextlib.contextmanager
def fresh(backend: str, token: str, redis_db: int, logs: Path | None = None) -> Iterator[Resources]:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}")
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{token}-"))
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    res = Resources(
        token=token,
        backend=backend,
        scratch=scratch,
        sqlite_path=scratch / "queue.db",
        postgres_url=f"{POSTGRES_SERVER}/{database_name(token)}",
        redis_db=redis_db,
        redis_url=redis_url(redis_db),
        logs=logs or scratch,
    )
    try:
        if backend == "postgres":
            _create_database(database_name(token))
        elif backend == "redis":
            flush_redis(redis_db)
        yield res
    finally:
        cleanup(token, redis_db if backend == "redis" else None, postgres=backend == "postgres")


def cleanup(token: str, redis_db: int | None, postgres: bool = True) -> None:
    """Remove what a run with this token made; safe to call twice, or after a killed run."""
    errors = []
    if postgres:
        try:
            _drop_database(database_name(token))
        except NotAvailable:
            pass
        except Exception as exc:
            errors.append(f"dropping database {database_name(token)}: {exc}")
    if redis_db is not None:
        try:
            flush_redis(redis_db)
        except NotAvailable:
            pass
        except Exception as exc:
            errors.append(f"flushing Redis database {redis_db}: {exc}")
    for folder in glob.glob(os.path.join(tempfile.gettempdir(), f"{SCRATCH_PREFIX}{token}-*")):
        shutil.rmtree(folder, ignore_errors=True)
    if errors:
        raise RuntimeError("; ".join(errors))


# -- PostgreSQL ----------------------------------------------------------------------------------


def _admin_connection() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise NotAvailable(f"psycopg is not installed ({exc})") from exc
    try:
        return psycopg.connect(f"{POSTGRES_SERVER}/{POSTGRES_ADMIN_DB}", autocommit=True)
    except psycopg.OperationalError as exc:
        raise ServiceDown(f"PostgreSQL at {POSTGRES_SERVER} is not reachable ({exc})") from exc


def _create_database(name: str) -> None:
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(name: str) -> None:
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- Redis ---------------------------------------------------------------------------------------


def redis_client(db: int) -> Any:
    try:
        import redis
    except ImportError as exc:
        raise NotAvailable(f"redis-py is not installed ({exc})") from exc
    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_timeout=10)


def flush_redis(db: int) -> None:
    import redis

    client = redis_client(db)
    try:
        client.flushdb()
    except redis.ConnectionError as exc:
        raise ServiceDown(f"Redis at {REDIS_HOST}:{REDIS_PORT} is not reachable ({exc})") from exc
    finally:
        client.close()


class RedisWrites:
    """Write commands the Redis server executed (all clients: keep the server otherwise idle)."""

    def __init__(self, db: int) -> None:
        self.client = redis_client(db)
        info = self.client.command()  # name -> {"flags": [...], ...}
        self.writers = {
            name.lower() for name, value in info.items() if "write" in value.get("flags", [])
        }

    def count(self) -> int:
        total = 0
        for key, value in self.client.info("commandstats").items():
            name = key.removeprefix("cmdstat_").split("|")[0].lower()
            if name in self.writers:
                total += int(value["calls"])
        return total
