"""<underway-progress> in headless Chromium, on the page of a host application (widget_host.py)
served by a real uvicorn process and signed in by its own session cookie, following a real
worker: live to the end, resuming after the server is killed mid-job, at phone width, with a
view link and no session, without EventSource, and without JavaScript."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import widget_host
from web_helpers import child_env, wait_until

from underway import Underway

HERE = Path(__file__).parent
STEPS = 20
DESKTOP = {"width": 1100, "height": 900}
PHONE = {"width": 360, "height": 740}
WAIT_MS = 20_000
# Collects the widget's DOM events where a host page would: on the document.
RECORD_EVENTS = """
window.seen = { progress: 0, done: [] };
document.addEventListener("underway:progress", (e) => {
  window.seen.progress += 1;
  window.seen.last = e.detail;
});
document.addEventListener("underway:done", (e) => { window.seen.done.push(e.detail); });
"""
ALL_DONE = "() => window.seen.done.length > 0"
CURSOR = re.compile(r"^\d+\.\d+\.\d+$")
BORDER_COLOUR = "li => getComputedStyle(li).borderLeftColor"

pytestmark = pytest.mark.slow


def environment(database_url: str) -> dict[str, str]:
    env = child_env(UNDERWAY_DATABASE_URL=database_url)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env["PYTHONPATH"]])
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class HostServer:
    """The host application in its own uvicorn process, which a test may kill and start again
    on the same port."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.env = environment(database_url)
        self.log = log
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "widget_host:host",
            "--host", "127.0.0.1", "--port", port, "--log-level", "warning",
        ]  # fmt: skip
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(command, cwd=HERE, stdout=out, stderr=out, env=self.env)
        wait_until(self.answers, timeout=30, what="the host application to answer")

    def answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"{self.url}/login/probe", timeout=2).is_success
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def jobs(sqlite_url: str) -> Iterator[Underway]:
    app = widget_host.make_jobs(sqlite_url)
    app.store.schema_ensure()
    yield app
    app.store.close()


@pytest.fixture
def host(jobs: Underway, sqlite_url: str, tmp_path: Path) -> Iterator[HostServer]:
    server = HostServer(sqlite_url, tmp_path / "host.log")
    server.start()
    yield server
    server.stop()


@contextmanager
def steps_worker(database_url: str, log: Path) -> Iterator[None]:
    """A real worker process for the steps queue (jobs elsewhere stay pending)."""
    command = [
        sys.executable, "-m", "underway", "worker", "--app", "widget_host:jobs",
        "--database-url", database_url, "--queue", widget_host.STEPS_QUEUE,
        "--processes", "1", "--concurrency", "2", "--sleep", "0.05", "--grace", "5",
    ]  # fmt: skip
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command, cwd=HERE, stdout=out, stderr=out, env=environment(database_url)
        )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def host_page(browser: Any, host: HostServer, event_source: bool = True) -> Iterator[Any]:
    """A page of a fresh browser context on the host application, recording the widget's
    events, optionally as a browser without EventSource; it must never reach another server."""
    context = browser.new_context(base_url=host.url, viewport=DESKTOP)
    context.set_default_timeout(WAIT_MS)
    context.add_init_script(RECORD_EVENTS)
    if not event_source:
        context.add_init_script("delete window.EventSource")
    page = context.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(host.url) else elsewhere.append(r.url))
    try:
        yield page
    finally:
        context.close()
    assert not elsewhere, f"the page reached outside its server: {elsewhere}"


def labels(page: Any) -> list[str]:
    return list(page.locator("underway-progress .results li .label").all_inner_texts())


def full_output(n: int = STEPS) -> str:
    return "".join(widget_host.piece(i) for i in range(1, n + 1))


def test_widget_follows_a_real_worker_to_the_end(
    browser: Any, host: HostServer, jobs: Underway, sqlite_url: str, tmp_path: Path,
    screenshots: Path,
) -> None:  # fmt: skip
    gate = tmp_path / "gate"
    job_id = jobs.dispatch("widget.steps", {"n": STEPS, "gate": str(gate)}, owner="alice")
    with host_page(browser, host) as page, host_page(browser, host, False) as viewer:
        streams: list[str] = []
        page.on("request", lambda r: streams.append(r.url) if "/api/" in r.url else None)
        page.goto("/login/alice")
        page.goto(f"/watch/{job_id}?cancel=1&markdown=1")
        widget = page.locator("underway-progress")
        widget.locator(".status", has_text="pending").wait_for()
        with steps_worker(sqlite_url, tmp_path / "worker.log"):
            for step in range(1, 9):  # one at a time: the worker measures a rate over >= 1 s
                gate.write_text(str(step))
                widget.locator(".counts", has_text=f"{step} / 20").wait_for()
            check_at_step_8(page, widget)
            page.screenshot(path=str(screenshots / "widget-running.png"), full_page=True)
            viewer_urls = open_view_link_without_session(viewer, job_id)
            gate.write_text(str(STEPS))
            page.wait_for_function(ALL_DONE)
        check_completed(page, widget)
        check_markdown_output(widget.locator(".output"))
        check_theme_and_phone_width(page, widget, screenshots)
        check_view_link_polled_to_the_end(viewer, viewer_urls, job_id)
        # After `end` the stream stays closed: wait past its retry delay (3 s).
        page.wait_for_timeout(3500)
        assert streams == [f"{host.url}/jobs/api/jobs/{job_id}/events"]

    page_without_javascript(browser, host, job_id)


def check_at_step_8(page: Any, widget: Any) -> None:
    widget.locator(".output h2", has_text="Step 8").wait_for()
    bar = widget.locator("[role=progressbar]")
    assert bar.get_attribute("aria-valuenow") == "40"
    assert bar.get_attribute("aria-valuetext") == "40 %, 8 of 20"
    assert (bar.get_attribute("aria-valuemin"), bar.get_attribute("aria-valuemax")) == ("0", "100")
    assert widget.locator(".percent").inner_text() == "40 %"
    assert widget.locator(".status").inner_text().lower() == "processing"
    assert widget.locator(".current").inner_text() == "src/part_8.py"
    assert labels(page) == [f"step-{i}" for i in range(1, 9)]
    assert widget.locator(".cost").inner_text() == "Cost $0.0080"
    assert widget.locator(".elapsed").inner_text().startswith("Elapsed ")
    widget.locator(".eta", has_text="ETA ").wait_for()  # once the worker measured a rate
    assert page.evaluate("window.seen.last.progress.eta_s") > 0
    assert widget.locator(".cancel").is_visible()


def check_completed(page: Any, widget: Any) -> None:
    seen = page.evaluate("window.seen")
    assert len(seen["done"]) == 1
    assert seen["done"][0]["status"] == "completed"
    assert len(seen["done"][0]["results"]) == STEPS
    assert seen["progress"] >= 2
    assert widget.locator(".status").inner_text().lower() == "completed"
    assert widget.locator(".percent").inner_text() == "100 %"
    assert widget.locator(".counts").inner_text() == "20 / 20"
    assert widget.locator("[role=progressbar]").get_attribute("aria-valuenow") == "100"
    assert widget.locator(".results li.ok").count() == STEPS
    assert widget.locator(".results li").count() == STEPS
    assert labels(page) == [f"step-{i}" for i in range(1, STEPS + 1)]
    assert widget.locator(".results li").last.inner_text() == "✓ step-20 done 20"
    assert '"steps": 20' in widget.locator(".result").inner_text()
    assert not widget.locator(".cancel").is_visible()
    assert not widget.locator(".eta").is_visible()
    assert widget.locator(".cost").inner_text() == "Cost $0.0200"


def check_markdown_output(output: Any) -> None:
    """Built from DOM nodes: the HTML in the text is shown as text."""
    assert output.locator("h2").count() == STEPS
    assert output.locator("li strong").count() == STEPS
    assert output.locator("li code").count() == STEPS
    assert output.locator("b").count() == 0
    assert output.inner_text().count("<b>not bold</b>") == STEPS


def check_theme_and_phone_width(page: Any, widget: Any, screenshots: Path) -> None:
    first_ok = widget.locator(".results li.ok").first
    assert first_ok.evaluate(BORDER_COLOUR) == "rgb(19, 122, 58)"
    page.locator("underway-progress").evaluate(
        "el => el.style.setProperty('--underway-ok', 'rgb(1, 2, 3)')"
    )
    assert first_ok.evaluate(BORDER_COLOUR) == "rgb(1, 2, 3)"  # through the shadow root
    page.screenshot(path=str(screenshots / "widget-completed.png"), full_page=True)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(screenshots / "widget-phone.png"), full_page=True)


def open_view_link_without_session(viewer: Any, job_id: str) -> list[str]:
    """A view link's widget, in a browser without EventSource and without a session: it
    polls; no Cancel button even when asked for."""
    urls: list[str] = []
    viewer.on("request", lambda r: urls.append(r.url))
    viewer.goto(f"/watch/{job_id}?view=1&cancel=1")
    widget = viewer.locator("underway-progress")
    widget.locator(".counts", has_text="8 / 20").wait_for()
    assert widget.locator("pre.output").inner_text() == full_output(8)
    assert widget.locator(".cancel").count() == 0
    return urls


def check_view_link_polled_to_the_end(viewer: Any, urls: list[str], job_id: str) -> None:
    """The output read by offsets in code points: nothing lost, nothing twice."""
    viewer.wait_for_function(ALL_DONE)
    widget = viewer.locator("underway-progress")
    assert widget.locator(".results li.ok").count() == STEPS
    assert widget.locator("pre.output").inner_text() == full_output()
    assert not any("/events" in url for url in urls)
    read_from = f"/api/jobs/{job_id}/output?offset={len(full_output(8))}&view="
    assert any(read_from in url for url in urls), urls


def page_without_javascript(browser: Any, host: HostServer, job_id: str) -> None:
    context = browser.new_context(base_url=host.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"/watch/{job_id}?view=1")
        link = page.locator("underway-progress > a")
        assert link.is_visible()
        assert link.inner_text() == f"Job {job_id}: status (JSON)"
        href = link.get_attribute("href")
        assert href.startswith(f"/jobs/api/jobs/{job_id}?view=")
        document = httpx.get(host.url + href).json()  # the link works without a session
        assert document["status"] == "completed"
    finally:
        context.close()


def test_widget_resumes_after_the_server_is_killed_mid_job(
    browser: Any, host: HostServer, jobs: Underway, sqlite_url: str, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    job_id = jobs.dispatch("widget.steps", {"n": STEPS, "gate": str(gate)}, owner="alice")
    with host_page(browser, host) as page, steps_worker(sqlite_url, tmp_path / "worker.log"):
        streams: list[Any] = []
        page.on("request", lambda r: streams.append(r) if "/api/" in r.url else None)
        page.goto("/login/alice")
        page.goto(f"/watch/{job_id}")
        widget = page.locator("underway-progress")
        gate.write_text("5")
        widget.locator(".counts", has_text="5 / 20").wait_for()
        widget.locator("pre.output", has_text="## Step 5").wait_for()

        host.kill()  # the stream's connection dies with the process
        gate.write_text("12")  # the job goes on meanwhile
        wait_until(lambda: progress_of(jobs, job_id) >= 12, what="the job to reach 12")
        host.start()
        widget.locator(".counts", has_text="12 / 20").wait_for()
        gate.write_text(str(STEPS))
        page.wait_for_function(ALL_DONE)

        assert labels(page) == [f"step-{i}" for i in range(1, STEPS + 1)]
        assert widget.locator(".results li.ok").count() == STEPS
        assert widget.locator("pre.output").inner_text() == full_output()
        assert page.evaluate("window.seen.done.length") == 1
        urls = [r.url for r in streams]
        events = f"{host.url}/jobs/api/jobs/{job_id}/events"
        assert urls.count(events) >= 2, urls  # it reconnected ...
        assert streams[0].all_headers().get("last-event-id") is None
        # Attempts while the server was down got no answer; the one that reached it sent its
        # cursor.
        resumed = [r.all_headers().get("last-event-id") for r in streams[1:] if r.response()]
        assert resumed, "no reconnection reached the server"
        assert resumed[0] == f"5.0.{len(full_output(5))}"  # what it held when cut off
        assert all(CURSOR.match(cursor or "") for cursor in resumed), resumed
        assert set(urls) == {events}, urls  # ... by the stream, never polling


def progress_of(jobs: Underway, job_id: str) -> int:
    document = jobs.get(job_id)
    assert document is not None
    return int(document["progress"]["processed"])


def test_widget_polls_after_failures_and_cancel_shows_a_refusal(
    browser: Any, host: HostServer, jobs: Underway
) -> None:
    """No worker serves this job's queue: it waits, and only the Cancel button moves it."""
    job_id = jobs.dispatch("widget.steps", {"n": 3}, queue="nobody-serves", owner="alice")
    poll_url = f"{host.url}/jobs/api/jobs/{job_id}"
    with host_page(browser, host) as page:
        urls: list[str] = []
        page.on("request", lambda r: urls.append(r.url) if "/api/" in r.url else None)
        page.goto("/login/alice")
        page.goto(f"/watch/{job_id}?cancel=1")
        widget = page.locator("underway-progress")
        widget.locator(".status", has_text="pending").wait_for()
        assert widget.locator(".warning").inner_text() == "no worker is running"

        # The server stays away for 3 attempts of the stream in a row: the widget polls.
        host.kill()
        with page.expect_request(poll_url, timeout=WAIT_MS):
            pass
        host.start()
        assert urls.count(f"{poll_url}/events") == 3, urls
        page.evaluate("fetch('/logout')")  # the session ends while the page is open
        assert not page.context.cookies()
        widget.locator(".cancel").click()
        widget.locator(".note", has_text="Cancel refused: not signed in").wait_for()
        assert jobs.get(job_id)["status"] == "pending"  # type: ignore[index]
        page.evaluate("fetch('/login/alice')")
        widget.locator(".cancel").click()
        page.wait_for_function(ALL_DONE)
        assert widget.locator(".status").inner_text().lower() == "cancelled"
        assert not widget.locator(".cancel").is_visible()
        assert page.evaluate("window.seen.done[0].status") == "cancelled"
        assert jobs.get(job_id)["status"] == "cancelled"  # type: ignore[index]
        assert urls.count(f"{poll_url}/events") == 3, urls  # polling, it never went back
