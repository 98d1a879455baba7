"""The worker's log output: a line per job event stays cheap at thousands of jobs a second.

Lines are written to a buffered stderr and flushed by the supervisor before it waits, so a busy
loop turn costs one write(2) rather than one per line, and nothing sits unwritten while idle.
"""

from __future__ import annotations

import logging
import sys
import time

FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
DATEFMT = "%H:%M:%S"


class SecondsFormatter(logging.Formatter):
    """Formats the time once per second instead of once per line."""

    def __init__(self) -> None:
        super().__init__(FORMAT, DATEFMT)
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._text = time.strftime(datefmt or DATEFMT, self.converter(second))
        return self._text


class UnflushedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that leaves flushing to whoever calls flush()."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)


def configure(level: str) -> None:
    # Skip the caller lookup and the thread/process fields nobody prints (the logging HOWTO's
    # optimisations).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    stream = open(  # noqa: SIM115 - lives as long as the process
        sys.stderr.fileno(),
        "w",
        buffering=1 << 16,
        encoding=sys.stderr.encoding,
        errors="backslashreplace",
        closefd=False,
    )
    handler = UnflushedStreamHandler(stream)
    handler.setFormatter(SecondsFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # The supervisor logs each outage once per retry; the pool's own warnings would repeat it.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


def flush() -> None:
    """Write out every line logged so far (the supervisor calls this before it waits)."""
    for handler in logging.getLogger().handlers:
        handler.flush()
