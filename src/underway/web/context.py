"""What every request handler of one web app shares, kept on the app's state (no globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

    from ..app import Underway
    from .auth import Auth
    from .hub import Hub
    from .throttle import Throttle


@dataclass(frozen=True)
class WebContext:
    app: Underway
    auth: Auth
    templates: Jinja2Templates
    poll_interval: float
    keepalive_interval: float
    throttle: Throttle  # failed token checks per client address
    hub: Hub  # the shared watchers of the jobs event streams follow
    view_key: bytes | None = None  # checks view links (Underway.view_token); None: none valid


def client_address(request: HTTPConnection) -> str:
    """Who the throttle counts: the peer's address ("" for a Unix socket). Behind a proxy every
    client shares the proxy's address, unless the server takes it from X-Forwarded-For."""
    return request.client.host if request.client else ""


def context(request: HTTPConnection) -> WebContext:
    web: WebContext = request.app.state.underway
    return web


def root(request: HTTPConnection) -> str:
    """The path this app is mounted at ("" when it is the whole site)."""
    return str(request.scope.get("root_path", "")).rstrip("/")
