"""End to end in headless Chromium: sign in, watch a job's page follow a real worker live, operate
the failed-jobs page, and check pages at desktop and phone width."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import ALICE, TOKENS, live_server

from underway import Underway
from underway.web import create_app

ALICE_TOKEN = "alice-token-0123456789"
ADMIN_TOKEN = "admin-token-0123456789"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1200, "height": 900}
WAIT_MS = 20_000


@pytest.fixture
def base_url(jobs: Underway) -> Iterator[str]:
    with live_server(create_app(jobs, tokens=TOKENS)) as url:
        yield url


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=base_url, viewport=DESKTOP)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    external: list[str] = []
    page.on(
        "request",
        lambda request: None if request.url.startswith(base_url) else external.append(request.url),
    )
    yield page
    context.close()
    assert not external, f"the page reached outside its server: {external}"


def sign_in(page: Any, token: str, next_path: str) -> None:
    page.goto(f"/signin?next={next_path}")
    page.fill("input[name=token]", token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"**{next_path}")


def test_progress_page_follows_a_real_worker_live(
    page: Any, base_url: str, worker: Any, tmp_path: Path, screenshots: Path
) -> None:
    gate = tmp_path / "gate"
    created = httpx.post(
        f"{base_url}/api/jobs",
        json={"task": "demo.fix_all", "args": {"n": 20, "gate": str(gate)}},
        headers=ALICE,
    )
    job_id = created.json()["job_id"]
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/events" in r.url else None)
    sign_in(page, ALICE_TOKEN, f"/jobs/{job_id}")
    assert page.locator("#no-worker").is_visible()
    assert page.locator("[data-field=status]").inner_text() == "pending"
    page.evaluate("window.loadedOnce = true")  # gone if the page ever reloads

    worker()
    page.locator("[data-field=status]", has_text="processing").wait_for()
    assert not page.locator("#no-worker").is_visible()
    gate.write_text("8")
    page.locator("[data-field=counts]", has_text="8 / 20").wait_for()
    assert page.locator("[data-field=percent]").inner_text() == "40 %"
    assert page.locator(".meter progress").evaluate("bar => bar.value") == 40
    assert page.locator("[data-field=current]").inner_text() == "src/module_8.py"
    assert page.locator("#results li.ok").count() == 8
    assert page.locator("#results li").last.inner_text().startswith("✓ issue-8 fixed")
    page.screenshot(path=str(screenshots / "job-running.png"), full_page=True)

    gate.write_text("20")
    page.locator("[data-field=status]", has_text="completed").wait_for()
    page.locator("pre.result").wait_for()  # the final state, swapped in without a reload
    assert page.evaluate("window.loadedOnce") is True
    assert page.locator("[data-field=percent]").inner_text() == "100 %"
    assert page.locator("[data-field=counts]").inner_text() == "20 / 20"
    assert page.locator("#results li.ok").count() == 20
    assert page.locator("#results li").count() == 20
    assert '"fixed": 20' in page.locator("pre.result").inner_text()
    assert "ai_cost: $0.0240" in page.locator("[data-field=usage]").inner_text()
    assert page.locator("button:has-text('Cancel')").count() == 0
    assert page.locator("#no-worker").count() == 0
    # One event stream for the whole run: the page never reconnected nor fell back to polling.
    assert streams == [f"{base_url}/api/jobs/{job_id}/events"]
    page.screenshot(path=str(screenshots / "job-completed.png"), full_page=True)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(screenshots / "job-completed-phone.png"), full_page=True)


def test_failed_jobs_page_retries_one_and_all(page: Any, jobs: Underway, screenshots: Path) -> None:
    jobs.eager = True
    failed = [jobs.dispatch("demo.boom", {"message": f"model timeout #{i}"}) for i in range(3)]
    jobs.eager = False
    sign_in(page, ADMIN_TOKEN, "/failed")
    for i in range(3):
        assert page.get_by_text(f"RuntimeError: model timeout #{i}").is_visible()
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(screenshots / "failed-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)

    card = page.locator("li.card", has_text=failed[1])
    card.locator("button:has-text('Retry')").click()
    page.get_by_text("Job queued again.").wait_for()
    assert page.locator("li.card", has_text=failed[1]).count() == 0
    assert jobs.get(failed[1])["status"] == "pending"  # type: ignore[index]

    page.click("button:has-text('Retry all failed jobs')")
    page.get_by_text("Failed jobs queued again: 2.").wait_for()
    assert page.get_by_text("No failed jobs.").is_visible()
    assert {jobs.get(job_id)["status"] for job_id in failed} == {"pending"}  # type: ignore[index]


def test_overview_updates_by_itself_and_pages_read_without_javascript(
    browser: Any, page: Any, base_url: str, jobs: Underway, screenshots: Path
) -> None:
    sign_in(page, ADMIN_TOKEN, "/")
    assert page.get_by_text("No jobs yet.").is_visible()
    assert page.get_by_text("No worker is running.").is_visible()
    jobs.dispatch("demo.echo", queue="reports")
    page.locator("a", has_text="reports").wait_for()  # streamed in, no reload
    page.screenshot(path=str(screenshots / "overview.png"), full_page=True)

    jobs.eager = True
    mixed = jobs.dispatch("demo.fix_all", {"n": 3, "fail": [2]})
    jobs.eager = False
    page.goto(f"/jobs/{mixed}")
    colour = "li => getComputedStyle(li).borderLeftColor"
    assert page.locator("#results li.ok").first.evaluate(colour) == "rgb(19, 122, 58)"
    assert page.locator("#results li.fail").evaluate(colour) == "rgb(180, 35, 24)"
    assert page.locator("#results li.fail").inner_text().startswith("✗ issue-2 could not fix")

    job_id = jobs.dispatch("demo.fix_all", {"n": 2})
    plain = browser.new_context(base_url=base_url, java_script_enabled=False)
    try:
        no_js = plain.new_page()
        no_js.goto("/signin?next=/jobs")
        no_js.fill("input[name=token]", ADMIN_TOKEN)
        no_js.click("button:has-text('Sign in')")
        no_js.wait_for_url("**/jobs")
        assert no_js.locator(f"a[href='/jobs/{job_id}']").is_visible()
        no_js.goto(f"/jobs/{job_id}")
        assert no_js.locator("[data-field=status]").inner_text() == "pending"
        assert re.search(r"No worker is running", no_js.content())
        no_js.screenshot(path=str(screenshots / "job-no-js.png"), full_page=True)
    finally:
        plain.close()


def test_without_event_source_the_page_polls_every_few_seconds(
    browser: Any, base_url: str, jobs: Underway
) -> None:
    job_id = jobs.dispatch("demo.echo", owner="alice")
    context = browser.new_context(base_url=base_url, viewport=PHONE)
    context.set_default_timeout(WAIT_MS)
    context.add_init_script("delete window.EventSource")  # as in a browser without SSE
    try:
        page = context.new_page()
        urls: list[str] = []
        page.on("request", lambda request: urls.append(request.url))
        sign_in(page, ALICE_TOKEN, f"/jobs/{job_id}")
        page.evaluate("window.loadedOnce = true")
        page.locator("text=This job is waiting: no worker is running.").wait_for()
        assert httpx.post(f"{base_url}/api/jobs/{job_id}/cancel", headers=ALICE).is_success
        page.locator("[data-field=status]", has_text="cancelled").wait_for()
        assert page.evaluate("window.loadedOnce") is True
        assert f"{base_url}/api/jobs/{job_id}" in urls
        assert not any("/events" in url for url in urls)
    finally:
        context.close()
