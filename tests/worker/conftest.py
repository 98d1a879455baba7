"""The worker suite's harness: real `underway worker` subprocesses on a real database.

Each test gets a folder holding a copy of worker_tasks.py, the same module loaded in the test
process to dispatch (so task options match the worker's), and helpers to start workers, read
their logs, wait on conditions in the database, and always kill the worker's processes at the
end.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil
import pytest

from underway import Underway
from underway.settings import ENV_DATABASE_URL, parse_database_url

TASKS_FILE = Path(__file__).with_name("worker_tasks.py")
APP_SPEC = "worker_tasks:app"
DEADLINE = 30.0
_module_numbers = itertools.count()


def wait_until(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll condition until it returns something truthy, and return that; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def gone(pid: int) -> bool:
    """The process has exited (a zombie whose parent was killed counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Worker:
    """One `underway worker` command; its output goes to a file that log() reads."""

    def __init__(self, folder: Path, url: str, flags: tuple[str, ...], log_path: Path) -> None:
        self.log_path = log_path
        env = {**os.environ, ENV_DATABASE_URL: url}
        env.pop("UNDERWAY_EAGER", None)
        command = [sys.executable, "-m", "underway", "worker", "--app", APP_SPEC, *flags]
        with open(log_path, "wb") as log:
            # Its own session, so that teardown can kill the children of a broken worker too.
            self.popen = subprocess.Popen(
                command,
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = DEADLINE) -> str:
        wait_until(lambda: text in self.log(), f"{text!r} in the worker log", timeout)
        return self.log()

    def wait_started(self) -> None:
        """Wait until the supervisor is registered in the database and starts its children."""
        self.wait_for_log(" started: ")

    def child_pids(self) -> list[int]:
        """The worker's child processes (the task runners and multiprocessing's helper)."""
        return [child.pid for child in psutil.Process(self.pid).children(recursive=True)]

    def runner_pids(self, count: int) -> list[int]:
        """Wait until `count` task-running children exist; return their pids."""

        def runners() -> list[int]:
            found = []
            for child in psutil.Process(self.pid).children():
                try:
                    if "spawn_main" in " ".join(child.cmdline()):
                        found.append(child.pid)
                except psutil.NoSuchProcess:
                    pass
            return found if len(found) == count else []

        return list(wait_until(runners, f"{count} child processes of worker {self.pid}"))

    def send(self, sig: signal.Signals) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = DEADLINE) -> int:
        """Wait for the worker to exit by itself; return its exit code."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {self.pid} still running after {timeout} s:\n{self.log()}")

    def kill(self) -> None:
        """Kill the worker and everything it started, whatever state they are in."""
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGCONT)  # a stopped process must see its SIGKILL too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(10)


class Harness:
    """A test's folder, database, tasks module and workers."""

    def __init__(self, folder: Path, url: str, tasks: ModuleType) -> None:
        self.folder = folder
        self.url = url
        self.tasks = tasks
        self.app: Underway = tasks.app
        self.workers: list[Worker] = []

    def worker(self, *flags: str) -> Worker:
        """Start `underway worker --app worker_tasks:app FLAGS` in the test's folder."""
        log_path = self.folder / f"worker-{len(self.workers) + 1}.log"
        worker = Worker(self.folder, self.url, flags, log_path)
        self.workers.append(worker)
        return worker

    def dispatch(self, task: str, **kwargs: Any) -> str:
        return self.app.dispatch(task, kwargs)

    def get(self, job_id: str) -> dict[str, Any]:
        document = self.app.get(job_id)
        assert document is not None, f"job {job_id} does not exist"
        return document

    def checkpoint(self, job_id: str) -> Any:
        """The job's stored checkpoint (the status document does not show it)."""
        record = self.app.store.job_get(job_id)
        assert record is not None, f"job {job_id} does not exist"
        return record.checkpoint

    def wait(self, job_id: str, timeout: float = DEADLINE) -> dict[str, Any]:
        return self.app.wait(job_id, timeout=timeout)

    def wait_status(self, job_id: str, status: str, timeout: float = DEADLINE) -> dict[str, Any]:
        return dict(
            wait_until(
                lambda: (d := self.get(job_id))["status"] == status and d,
                f"job {job_id} to be {status}",
                timeout,
            )
        )

    def pause(self, worker: Worker) -> None:
        """SIGSTOP the worker's supervisor at a moment it holds no SQLite write lock: a writer
        paused inside a transaction blocks every other writer of the file, which is SQLite's
        nature and not what a test of lost leases is about."""
        for _ in range(20):
            worker.send(signal.SIGSTOP)
            wait_until(
                lambda: psutil.Process(worker.pid).status() == psutil.STATUS_STOPPED,
                f"worker {worker.pid} to stop",
            )
            if self._write_lock_free():
                return
            worker.send(signal.SIGCONT)
        pytest.fail(f"worker {worker.pid} always held the write lock when paused")

    def _write_lock_free(self) -> bool:
        parsed = parse_database_url(self.url)
        if parsed.scheme != "sqlite":
            # Only SQLite locks the whole database. A PostgreSQL worker paused inside a
            # transaction would still hold its job's row lock: worth a pg_stat_activity check
            # here if that ever shows up as a stuck test.
            return True
        # Another worker, running, holds the lock for milliseconds at a time: wait that out (a
        # busy machine makes it longer). A paused holder never lets go within the second.
        with contextlib.closing(sqlite3.connect(parsed.path, timeout=1.0)) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return False
            conn.execute("ROLLBACK")
        return True

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold, from outside, the lock every worker's writes need while the block runs: SQLite's
        write lock (BEGIN IMMEDIATE), or an ACCESS EXCLUSIVE lock on PostgreSQL's jobs table."""
        parsed = parse_database_url(self.url)
        if parsed.scheme == "sqlite":
            conn = sqlite3.connect(parsed.path, timeout=10, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield
                conn.execute("ROLLBACK")
            finally:
                conn.close()
            return
        import psycopg

        schema = parsed.options["schema"]
        with psycopg.connect(self.url.split("?")[0]) as pg:  # one transaction, to the block's end
            pg.execute(f'LOCK TABLE "{schema}".jobs IN ACCESS EXCLUSIVE MODE')
            yield
            pg.rollback()

    def lines(self, name: str) -> list[str]:
        """The lines tasks noted in the file `name` of the test's folder."""
        path = self.folder / name
        return path.read_text().splitlines() if path.exists() else []

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()
        self.app.store.close()


def load_tasks(folder: Path) -> ModuleType:
    """Import the folder's worker_tasks.py under a name of its own: each test has its own app."""
    name = f"worker_tasks_{next(_module_numbers)}"
    spec = importlib.util.spec_from_file_location(name, folder / TASKS_FILE.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    """The database under test, a fresh one per test (the fixtures of tests/conftest.py)."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def uw(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(TASKS_FILE, folder / TASKS_FILE.name)
    monkeypatch.setenv(ENV_DATABASE_URL, url)
    monkeypatch.delenv("UNDERWAY_EAGER", raising=False)
    harness = Harness(folder, url, load_tasks(folder))
    harness.app.store.schema_ensure()
    try:
        yield harness
    finally:
        harness.close()
