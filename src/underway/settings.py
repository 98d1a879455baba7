"""Environment variables, defaults and database URLs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from .errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///underway.db"
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_PROGRESS_INTERVAL = 0.25
BACKOFF_CAP_SECONDS = 3600.0

ENV_DATABASE_URL = "UNDERWAY_DATABASE_URL"
ENV_APP = "UNDERWAY_APP"
ENV_EAGER = "UNDERWAY_EAGER"


def database_url(explicit: str | None = None) -> str:
    """The URL to use: the explicit one, else UNDERWAY_DATABASE_URL, else the SQLite default."""
    return explicit or os.environ.get(ENV_DATABASE_URL) or DEFAULT_DATABASE_URL


def eager_from_env() -> bool:
    return os.environ.get(ENV_EAGER, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL: scheme, the rest of it, and its query options."""

    raw: str
    scheme: str
    path: str
    options: dict[str, str]


def parse_database_url(url: str) -> DatabaseURL:
    parts = urlsplit(url)
    if not parts.scheme:
        raise ConfigurationError(
            f"database URL {url!r} has no scheme (expected sqlite:/// or postgresql://)"
        )
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if parts.netloc:
            raise ConfigurationError(
                f"database URL {url!r}: write sqlite:///relative.db or sqlite:////absolute/path.db"
            )
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        return DatabaseURL(url, scheme, path, options)
    return DatabaseURL(url, scheme, parts.path, options)
