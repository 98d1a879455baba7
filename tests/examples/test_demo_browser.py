"""`make demo`'s program end to end: a real server and worker, driven in a real Chromium."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from examples.codefix.scanner import SAMPLE_PROJECT, scan

REPO = Path(__file__).resolve().parents[2]
# The progress widget's insides (an open shadow root); Playwright's locators see into it.
WIDGET = "document.querySelector('underway-progress').shadowRoot"


def widget(page: Any, selector: str, **options: Any) -> Any:
    return page.locator(f"underway-progress {selector}", **options)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Demo:
    """`python -m examples.demo` as a subprocess, as `make demo` runs it. ``latency`` is
    OFFLINE_LATENCY: 0 (full speed) unless a test asks; None leaves the demo's own default."""

    def __init__(self, data: Path, latency: str | None = "0") -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data.parent / "demo.log"
        env = {
            **os.environ,
            "DEMO_DATA_DIR": str(data),
            "PORT": str(self.port),
            "UNDERWAY_DATABASE_URL": f"sqlite:///{data / 'underway.db'}",
        }
        for name in ("GEMINI_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "UNDERWAY_TOKENS"):
            env.pop(name, None)
        env.pop("OFFLINE_LATENCY", None)
        if latency is not None:
            env["OFFLINE_LATENCY"] = latency
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "examples.demo"], cwd=REPO, env=env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the demo did not start:\n{self.log.read_text()}")
            time.sleep(0.2)
        self.tree = psutil.Process(self.process.pid).children(recursive=True)

    def output(self) -> str:
        return self.log.read_text()

    def interrupt(self) -> int:
        """Ctrl-C, as a person stops it."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)

    def worker_pid(self) -> int:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"worker \S+:(\d+):", self.output())):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the demo's worker did not start:\n{self.output()}")
            time.sleep(0.1)
        return int(found.group(1))

    def kill(self) -> None:
        """Stop the demo and anything it left running: tests stop what they start."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for process in psutil.wait_procs(self.tree, timeout=20)[1]:
            process.kill()


@pytest.fixture
def demo_data(tmp_path: Path) -> Path:
    return tmp_path / "demo-data"


@pytest.fixture
def demo(demo_data: Path, request: pytest.FixtureRequest) -> Iterator[Demo]:
    """The demo at full speed, or at the OFFLINE_LATENCY a test names (indirect parameter)."""
    running = Demo(demo_data, latency=getattr(request, "param", "0"))
    yield running
    running.kill()


@pytest.fixture
def page(browser: Any, demo: Demo) -> Iterator[Any]:
    context = browser.new_context(base_url=demo.base, viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def test_fix_all_flow(page: Any, demo: Demo, demo_data: Path, screenshots: Path) -> None:
    assert f"{demo.base}/fix-all" in demo.output()
    page.goto("/fix-all")
    rows = page.locator("tbody tr", has_text="F401")
    open_before = rows.count()
    chosen = min(open_before, 6)
    assert chosen >= 4
    for index in range(chosen):
        rows.nth(index).locator("input[type=checkbox]").check()
    assert page.locator("#selected").inner_text() == f"{chosen} selected"
    page.locator("#fix-all").click()
    page.wait_for_url(re.compile(r"/fix-all/[0-9a-z]{26}$"))
    page.wait_for_function(f"{WIDGET}.querySelector('.status').textContent === 'completed'")
    assert widget(page, ".percent").inner_text() == "100 %"
    assert widget(page, "[role=progressbar]").get_attribute("aria-valuenow") == "100"
    assert widget(page, ".results li").count() == chosen
    assert widget(page, ".results li.ok").count() == chosen
    assert widget(page, ".counts").inner_text() == f"{chosen} / {chosen}"
    page.wait_for_function(  # the bar's width is animated: let it arrive before the picture
        f"(bar => bar.firstChild.offsetWidth === bar.clientWidth)({WIDGET}.querySelector('.bar'))"
    )
    page.screenshot(path=str(screenshots / "fix-all-progress.png"), full_page=True)
    # The fixes were really applied to the working copy, and the issues left the open list.
    workspace = demo_data / "codefix-workspace"
    still_found = len([f for f in scan(workspace) if f.rule == "F401"])
    assert still_found <= open_before - chosen
    page.goto("/fix-all")
    # Open is what ruff still finds: ruff fixes every F401 of a file at once, so unchosen unused
    # imports in a file with a chosen one left the list too.
    assert page.locator("tbody tr", has_text="F401").count() == still_found


@pytest.mark.parametrize("demo", ["3"], indirect=True)  # offline, a report takes 3 s to write
def test_report_flow(page: Any, demo: Demo, screenshots: Path) -> None:
    page.set_viewport_size({"width": 360, "height": 780})  # a phone
    page.goto("/reports")
    page.wait_for_url(re.compile(r"/demo/sign-in$"))
    page.locator("input[value=alice]").check()
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/reports$"))
    assert page.locator("input[name=entry_ids]").count() == 7
    page.locator("input[name=entry_ids]").nth(6).uncheck()
    page.get_by_role("button", name="Weave Fragments").click()
    page.wait_for_url(re.compile(r"/reports\?job=[0-9a-z]{26}$"))
    # Each change of the report in the widget is recorded with the job's status at the time.
    page.wait_for_function(f"!!{WIDGET}.querySelector('.output')")
    page.evaluate(
        f"""() => {{ const root = {WIDGET}, output = root.querySelector('.output');
        window.seen = [];
        new MutationObserver(() => window.seen.push([output.textContent.length,
            root.querySelector('.status').textContent]))
          .observe(output, {{childList: true, characterData: true, subtree: true}}); }}"""
    )
    page.locator("#report h1").wait_for()
    written = page.evaluate(f"{WIDGET}.querySelector('.output').textContent.length")
    seen = page.evaluate("window.seen")
    growing = {length for length, status in seen if 0 < length < written and status != "completed"}
    assert len(growing) >= 2, seen  # the page showed the report growing before it was done
    assert widget(page, "[role=progressbar]").get_attribute("aria-valuenow") == "100"
    assert widget(page, ".percent").inner_text() == "100 %"
    assert page.locator("#report h1").inner_text() == "Weekly Progress Report"
    assert "Feb 01, 2026 to Feb 06, 2026" in page.locator("#state").inner_text()
    assert "Written offline" in page.locator("#report").inner_text()
    assert not widget(page, ".output").is_visible()  # the whole report is shown rendered instead
    # Readable on a phone: nothing wider than the screen; the bar under the button, before the
    # entries.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    button = page.locator("#weave-button").bounding_box()
    bar = widget(page, "[role=progressbar]").bounding_box()
    assert bar["x"] >= 0 and bar["x"] + bar["width"] <= 360
    entries = page.locator("table").bounding_box()
    assert button["y"] + button["height"] < bar["y"] < entries["y"]
    assert bar["y"] - (button["y"] + button["height"]) < 200
    page.screenshot(path=str(screenshots / "reports-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1100, "height": 900})
    page.screenshot(path=str(screenshots / "reports.png"), full_page=True)


def test_ctrl_c_stops_everything_and_a_second_run_reuses_the_data(demo_data: Path) -> None:
    first = Demo(demo_data)
    try:
        assert "seeded 39 issues, 14 journal entries" in first.output()
        assert "AI          offline (no AI model)\n" in first.output()  # OFFLINE_LATENCY=0
        worker_pid = first.worker_pid()
        assert first.interrupt() == 0
        assert _gone(worker_pid), "the worker outlived the demo"
    finally:
        first.kill()
    second = Demo(demo_data)
    try:  # nothing seeded again: the second run says what it reuses, and how to start over
        assert (
            f"reusing {demo_data}/ (39 issues: 39 open, 0 fixed, 0 failed; 14 journal entries); "
            f"delete {demo_data}/ to start over"
        ) in second.output()
        assert "seeded" not in second.output()
        assert httpx.get(f"{second.base}/fix-all").text.count('name="issue_ids"') == 39
    finally:
        assert second.interrupt() == 0


def test_fix_all_of_every_issue_moves_the_bar_and_shows_what_ruff_confirms(
    browser: Any, demo_data: Path
) -> None:
    demo = Demo(demo_data, latency=None)  # the demo's default: a simulated 0.4 s per call
    context = browser.new_context(base_url=demo.base, viewport={"width": 1100, "height": 900})
    try:
        assert "offline (no AI model; simulated 0.4 s per call)" in demo.output()
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto("/fix-all")
        assert "Simulated 0.4 s per call" in page.locator("#ai-mode").inner_text()
        issues = page.locator("input[name=issue_ids]").count()
        page.locator("#select-all").check()
        page.locator("#fix-all").click()
        page.wait_for_url(re.compile(r"/fix-all/[0-9a-z]{26}$"))
        page.wait_for_function(f"!!{WIDGET}.querySelector('.percent')")
        page.evaluate(
            f"""() => {{ const shown = {WIDGET}.querySelector('.percent'); window.seen = [];
            new MutationObserver(() => window.seen.push(shown.textContent))
              .observe(shown, {{childList: true, characterData: true, subtree: true}}); }}"""
        )
        page.wait_for_function(
            f"{WIDGET}.querySelector('.status').textContent === 'completed'", timeout=120_000
        )
        seen = [float(p.removesuffix(" %")) for p in page.evaluate("window.seen") if p]
        assert len({p for p in seen if 0 < p < 100}) >= 3, seen  # the bar moved
        assert "Simulated 0.4 s per call" in page.locator("#ai-mode").inner_text()
        assert widget(page, ".results li").count() == issues
        assert widget(page, ".results li", has_text="already").count() == 0
        failed = [
            (item.locator(".label").inner_text().rsplit(":", 1)[0],
             item.locator(".msg").inner_text().split(":", 1)[0])
            for item in widget(page, ".results li.fail").all()
        ]  # fmt: skip
        # Every issue shown failed is still there, and nothing else of the sample's issues is.
        original = {(f.file, f.rule, f.message) for f in scan(SAMPLE_PROJECT)}
        left = scan(demo_data / "codefix-workspace")
        left = [f for f in left if (f.file, f.rule, f.message) in original]
        assert sorted(failed) == sorted((f.file, f.rule) for f in left)
    finally:
        context.close()
        assert demo.interrupt() == 0
        demo.kill()


@pytest.mark.parametrize("how", [signal.SIGHUP, signal.SIGKILL], ids=["hang-up", "kill"])
def test_the_worker_stops_when_the_demo_dies(demo_data: Path, how: signal.Signals) -> None:
    # A closed terminal (SIGHUP) or a kill gives the demo no chance to stop its worker itself.
    demo = Demo(demo_data)
    try:
        worker_pid = demo.worker_pid()
        demo.process.send_signal(how)
        assert demo.process.wait(30) == -how
        assert _gone(worker_pid), f"the worker outlived the demo's {how.name}"
    finally:
        demo.kill()


def _gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"
