"""Worker and server processes a run starts, and the guarantee that it stops all of them.

Each command runs as its own process tree in the run's process group (the run itself is the
leader of a fresh session, so the suite can kill everything a stuck run started with one
killpg). stop() sends SIGTERM to each tree's root, then SIGKILL to every process of the tree
that is still there after the grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from .config import ROOT

TAIL_BYTES = 2000


def log_tail(path: Path) -> str:
    try:
        data = path.read_bytes()[-TAIL_BYTES:]
    except OSError:
        return ""
    return data.decode(errors="replace").strip()


class Processes:
    """Started process trees; usable as a context manager that always stops them."""

    def __init__(self, name: str, log_dir: Path) -> None:
        self.name = name
        self.log_dir = log_dir
        self.popens: list[subprocess.Popen[bytes]] = []
        self.commands: list[str] = []
        self.logs: list[Path] = []
        self._known: dict[int, psutil.Process] = {}

    def start(self, commands: Sequence[Sequence[str]], env: dict[str, str]) -> Processes:
        for i, command in enumerate(commands):
            log = self.log_dir / f"{self.name}-{i}.log"
            with open(log, "ab") as out:
                popen = subprocess.Popen(
                    list(command), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
                )
            self.popens.append(popen)
            self.commands.append(" ".join(command))
            self.logs.append(log)
        return self

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- health --------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise if a root process has exited, with the end of its log."""
        for popen, command, log in zip(self.popens, self.commands, self.logs, strict=True):
            code = popen.poll()
            if code is not None:
                raise RuntimeError(
                    f"{self.name} process {command!r} exited with code {code}:\n{log_tail(log)}"
                )

    def tree(self) -> list[psutil.Process]:
        """Every live process of the trees (cached, so CPU counters carry across calls)."""
        found: list[psutil.Process] = []
        for popen in self.popens:
            with contextlib.suppress(psutil.NoSuchProcess):
                root = self._known.get(popen.pid) or psutil.Process(popen.pid)
                self._known[popen.pid] = root
                found.append(root)
                for child in root.children(recursive=True):
                    found.append(self._known.setdefault(child.pid, child))
        return found

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def largest_rss_mb(self) -> float:
        sizes = [0]
        for proc in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                sizes.append(proc.memory_info().rss)
        return max(sizes) / 1048576

    # -- stopping ------------------------------------------------------------------------------

    def stop(self, grace: float = 5.0) -> None:
        procs = self.tree()
        for popen in self.popens:
            if popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for popen in self.popens:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(max(0.0, deadline - time.monotonic()))
        # Children may outlive their root (reparented): kill whatever of the tree is left.
        for proc in procs + self.tree():
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                if proc.is_running():
                    proc.kill()
        for popen in self.popens:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(5)
        self.popens.clear()


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
