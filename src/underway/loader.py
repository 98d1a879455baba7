"""Find the user's Underway object from a "module:attribute" path."""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .app import Underway


def load_app(spec: str) -> Underway:
    from .app import Underway

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"app {spec!r}: write it as module:attribute, e.g. myproject.jobs:app"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"app {spec!r}: cannot import {module_name!r} ({exc})") from exc
    app = getattr(module, attribute, None)
    if not isinstance(app, Underway):
        raise ConfigurationError(
            f"app {spec!r}: {attribute!r} in {module_name} is not an Underway object"
        )
    return app
