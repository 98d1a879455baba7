"""Messages between the supervisor and its children: JSON over a pipe, one message a frame."""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Any

from .. import codec
from ..store.base import Lease, ProgressWrite


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
    )


def merge_progress(older: ProgressWrite | None, newer: ProgressWrite) -> ProgressWrite:
    """One write that stands for both: the newer totals, every entry, the latest checkpoint."""
    if older is None:
        return newer
    newer.results = older.results + newer.results
    newer.errors = older.errors + newer.errors
    if not newer.has_checkpoint and older.has_checkpoint:
        newer.checkpoint, newer.has_checkpoint = older.checkpoint, True
    return newer
