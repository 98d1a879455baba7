"""Messages between the supervisor and its children: JSON over a pipe, one message a frame.

Every message about a job names its attempt too ("id" and "attempt", or [id, attempt] pairs):
the same job can be in one worker twice at once, as an old attempt that lost its lease and the
new one that took it over (see books.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from .. import codec
from ..model import JobRecord, Lease, ProgressWrite

# One attempt of a job, (job id, attempt): the key of the supervisor's books, of the write
# buffers and of the child's own dicts. A tuple rather than a Lease: the key is looked up several
# times per job, and a tuple hashes about four times faster and is built ten times faster.
Key = tuple[str, int]


def send(conn: Connection, message: dict[str, Any]) -> None:
    conn.send_bytes(codec.dumps(message).encode())


def receive(conn: Connection) -> dict[str, Any]:
    message: dict[str, Any] = codec.loads(conn.recv_bytes())
    return message


def progress_to_wire(write: ProgressWrite) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": write.lease.job_id,
        "attempt": write.lease.attempt,
        "total": write.total,
        "processed": write.processed,
        "current": write.current,
        "usage": write.usage,
    }
    if write.results:
        wire["results"] = write.results
    if write.errors:
        wire["errors"] = write.errors
    if write.has_checkpoint:
        wire["checkpoint"] = write.checkpoint
    if write.output:
        wire["output"] = write.output
    if write.rate is not None:
        wire["rate"] = write.rate
    return wire


def progress_from_wire(wire: dict[str, Any]) -> ProgressWrite:
    return ProgressWrite(
        lease=Lease(wire["id"], wire["attempt"]),
        total=wire["total"],
        processed=wire["processed"],
        current=wire["current"],
        usage=wire["usage"],
        results=wire.get("results", []),
        errors=wire.get("errors", []),
        checkpoint=wire.get("checkpoint"),
        has_checkpoint="checkpoint" in wire,
        output=wire.get("output", ""),
        rate=wire.get("rate"),
    )


def job_to_wire(record: JobRecord, timeout: float | None) -> dict[str, Any]:
    """A claimed job as the child needs it, for a "run" message."""
    return {
        "id": record.id,
        "attempt": record.attempts,
        "task": record.task,
        "args": record.args,
        "timeout": timeout,
        "total": record.progress_total,
        "processed": record.progress_processed,
        "current": record.progress_current,
        "usage": record.usage,
        "checkpoint": record.checkpoint,
        "output_length": record.output_length,
    }


def key_of(lease: Lease) -> Key:
    return (lease.job_id, lease.attempt)


def saved_answer(conn: Connection, key: Key) -> Callable[[bool], None]:
    """What tells a task waiting on its checkpoint whether the checkpoint was stored."""

    def answer(stored: bool) -> None:
        with contextlib.suppress(OSError):
            send(conn, {"op": "saved", "id": key[0], "attempt": key[1], "ok": stored})

    return answer
