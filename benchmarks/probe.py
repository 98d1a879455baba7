"""Timestamps from inside the jobs, the same way for every system.

A benchmark task appends one line to the file named by BENCH_PROBE (one O_APPEND write, atomic
across processes and threads); the run reads the file. Times are time.monotonic(), which on
Linux is one clock for every process on the machine, so a job's start can be compared with the
moment the run dispatched it. Cost to a job: one write(2), the same for every system.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

ENV = "BENCH_PROBE"

# Per process: a forked child reopens, so no two processes share a file offset by accident.
_fd: int | None = None
_pid = 0


def record(tag: str, *values: float) -> None:
    """Append `tag v1 v2 ...` as one line."""
    global _fd, _pid
    pid = os.getpid()
    if _fd is None or _pid != pid:
        _fd = os.open(os.environ[ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _pid = pid
    line = tag + "".join(f" {v:.9f}" for v in values) + "\n"
    os.write(_fd, line.encode())


Row = tuple[float, ...]


class ProbeReader:
    """The run's side: the rows written so far, by tag."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.rows: dict[str, list[Row]] = {}

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as file:
                file.seek(self.offset)
                data = file.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            tag, *values = line.decode().split()
            self.rows.setdefault(tag, []).append(tuple(float(v) for v in values))

    def count(self, tag: str) -> int:
        return len(self.rows.get(tag, ()))

    def wait(
        self,
        tag: str,
        count: int,
        timeout: float,
        check: Callable[[], None] | None = None,
        interval: float = 0.02,
    ) -> list[Row]:
        """Block until `count` rows with `tag` arrived; check() may raise (a worker died)."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if self.count(tag) >= count:
                return self.rows[tag]
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.count(tag)} of {count} {tag!r} jobs reported after {timeout:.0f} s"
                )
            if check is not None:
                check()
            time.sleep(interval)

    def take(self, tag: str) -> list[Row]:
        """The rows with `tag` so far, forgetting them."""
        self.poll()
        return self.rows.pop(tag, [])
