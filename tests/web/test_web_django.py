"""create_app(authenticate=...) beside a real Django project: Django's ASGI handler serves the
site, the jobs' web app is mounted under /jobs, and the hook reads the Django session from its
cookie, as asgi.py would do it.

Django's settings can be configured once per process: this module configures defaults only if
nobody has, and sets what it needs with override_settings for each test, undone afterwards, so
that nothing of it leaks into other tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from importlib import import_module
from typing import Any

import httpx
import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import path
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount
from web_helpers import ALICE, LOCAL_CLIENT, TOKENS

from underway import Underway
from underway.web import create_app

pytestmark = pytest.mark.anyio

DJANGO_SETTINGS = {
    "SECRET_KEY": "django-test-secret-key-for-signed-cookie-sessions",
    "ROOT_URLCONF": __name__,
    "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
    "MIDDLEWARE": ["django.contrib.sessions.middleware.SessionMiddleware"],
    "ALLOWED_HOSTS": ["testserver"],
    "DEBUG": False,
}


def login(request: HttpRequest, name: str) -> HttpResponse:
    request.session["user"] = name
    return HttpResponse(f"signed in as {name}")


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello {request.session.get('user', 'stranger')}")


urlpatterns = [path("login/<str:name>", login), path("", home)]


def django_user(request: Request) -> str | None:
    """The hook: the Django session named by the request's session cookie (a plain function:
    underway runs it in a thread, where a database-backed session store may block)."""
    from django.conf import settings

    key = request.cookies.get(settings.SESSION_COOKIE_NAME)
    if not key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    user = session.get("user")
    return user if isinstance(user, str) else None


@pytest.fixture
def django_asgi() -> Iterator[Any]:
    django = pytest.importorskip("django")
    from django.conf import settings
    from django.core.asgi import get_asgi_application
    from django.test import override_settings

    if not settings.configured:
        # Outside the tests' overrides: a key that signs nothing here (Django wants one).
        settings.configure(SECRET_KEY="outside-the-django-tests")
        django.setup()
    with override_settings(**DJANGO_SETTINGS):
        yield get_asgi_application()


def path_router(jobs_web: Any, site: Any) -> Any:
    """asgi.py, by hand: /jobs and below to underway (mounted there: root_path), the rest to
    Django."""

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        where = scope.get("path", "")
        if scope["type"] == "http" and (where == "/jobs" or where.startswith("/jobs/")):
            scope = {**scope, "root_path": scope.get("root_path", "") + "/jobs"}
            await jobs_web(scope, receive, send)
        else:
            await site(scope, receive, send)

    return application


def starlette_router(jobs_web: Any, site: Any) -> Any:
    """asgi.py as the README shows it."""
    return Starlette(routes=[Mount("/jobs", jobs_web), Mount("/", site)])


@pytest.fixture(params=[path_router, starlette_router], ids=["by-hand", "starlette"])
async def client(
    request: pytest.FixtureRequest, jobs: Underway, django_asgi: Any
) -> AsyncIterator[httpx.AsyncClient]:
    jobs_web = create_app(jobs, tokens=TOKENS, authenticate=django_user)
    transport = httpx.ASGITransport(app=request.param(jobs_web, django_asgi), client=LOCAL_CLIENT)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_the_django_user_sees_their_own_jobs_only(
    client: httpx.AsyncClient, jobs: Underway
) -> None:
    alice_job = jobs.dispatch("demo.echo", owner="alice")
    bob_job = jobs.dispatch("demo.echo", owner="bob")
    assert (await client.get(f"/jobs/api/jobs/{alice_job}")).status_code == 401
    signed_in = await client.get("/login/alice")
    assert signed_in.text == "signed in as alice"
    assert "sessionid" in client.cookies
    assert (await client.get("/")).text == "hello alice"  # Django reads its own session
    mine = await client.get(f"/jobs/api/jobs/{alice_job}")
    assert mine.status_code == 200
    assert mine.json()["owner"] == "alice"
    assert (await client.get(f"/jobs/api/jobs/{bob_job}")).status_code == 404
    assert (await client.get(f"/jobs/api/jobs/{bob_job}/events")).status_code == 404
    listed = (await client.get("/jobs/api/jobs")).json()["jobs"]
    assert [d["job_id"] for d in listed] == [alice_job]
    created = await client.post("/jobs/api/jobs", json={"task": "demo.echo"})
    assert created.status_code == 202
    assert jobs.get(created.json()["job_id"])["owner"] == "alice"  # type: ignore[index]


async def test_anonymous_and_forged_django_sessions_are_401(
    client: httpx.AsyncClient, jobs: Underway
) -> None:
    alice_job = jobs.dispatch("demo.echo", owner="alice")
    assert (await client.get("/jobs/api/jobs")).status_code == 401
    await client.get("/login/bob")
    cookie = client.cookies["sessionid"]
    flipped = cookie[:-1] + ("A" if cookie[-1] != "A" else "B")
    for value in (flipped, "garbage", cookie.split(":")[0]):
        client.cookies.clear()
        client.cookies.set("sessionid", value)
        assert (await client.get(f"/jobs/api/jobs/{alice_job}")).status_code == 401
        assert (await client.get("/")).text == "hello stranger"
    client.cookies.clear()
    # A bearer token works beside the hook.
    assert (await client.get(f"/jobs/api/jobs/{alice_job}", headers=ALICE)).status_code == 200
