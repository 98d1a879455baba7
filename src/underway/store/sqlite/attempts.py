"""Attempts on SQLite: a worker claims jobs, writes their progress, and finishes or releases
them, every write fenced by its lease. The claim and finish paths are the hot ones: one write
transaction each (one for both in job_finish_and_claim). Queries in sql/sqlite/attempts.sql."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ... import codec
from ...model import FINISHED, ClaimRequest, JobRecord, Lease, Outcome, ProgressWrite, Status
from ..rows import (
    claim_one_params,
    claim_params,
    in_claim_order,
    job_record,
    output_pieces,
    release_params,
)
from .connection import Q, SQLiteConnection


class SQLiteAttempts(SQLiteConnection):
    def job_claim(self, worker_id: str, request: ClaimRequest) -> list[JobRecord]:
        with self._write() as conn:
            return _claim(conn, worker_id, request)

    def job_claim_one(
        self, worker_id: str, job_id: str, lease_seconds: float, now: float
    ) -> JobRecord | None:
        params = claim_one_params(worker_id, job_id, lease_seconds, now)
        with self._write() as conn:
            row = conn.execute(Q["job_claim_id"], params).fetchone()
        return None if row is None else job_record(row)

    def job_write_progress(self, worker_id: str, writes: Sequence[ProgressWrite]) -> list[str]:
        with self._write() as conn:
            return [w.lease.job_id for w in writes if not _write_progress(conn, worker_id, w)]

    def job_finish(self, worker_id: str, outcomes: Sequence[Outcome]) -> list[str]:
        refused = []
        with self._write() as conn:
            for outcome in outcomes:
                if not _finish(conn, worker_id, outcome):
                    refused.append(outcome.lease.job_id)
        return refused

    def job_finish_and_claim(
        self, worker_id: str, outcomes: Sequence[Outcome], claim: ClaimRequest
    ) -> tuple[list[str], list[JobRecord]]:
        with self._write() as conn:
            refused = [o.lease.job_id for o in outcomes if not _finish(conn, worker_id, o)]
            return refused, _claim(conn, worker_id, claim)

    def job_release(self, worker_id: str, leases: Sequence[Lease], now: float) -> None:
        with self._write() as conn:
            conn.executemany(Q["job_release"], release_params(worker_id, leases, now))


def _claim(conn: sqlite3.Connection, worker_id: str, request: ClaimRequest) -> list[JobRecord]:
    params = claim_params(worker_id, request)
    if request.limit <= 0:
        return []
    if not request.queues:
        return in_claim_order(conn.execute(Q["job_claim_any"], params))
    claimed: list[JobRecord] = []
    for queue in request.queues:
        params["queue"] = queue
        params["limit"] = request.limit - len(claimed)
        claimed.extend(in_claim_order(conn.execute(Q["job_claim_queue"], params)))
        if len(claimed) >= request.limit:
            break
    return claimed


def _progress_params(write: ProgressWrite | None, params: dict[str, Any]) -> dict[str, Any]:
    """Add a write's progress columns to params (the has_* flags say which to set)."""
    if write is None:
        params.update(_NO_PROGRESS)
        return params
    params["has_progress"] = True
    params["total"] = write.total
    params["processed"] = write.processed
    params["current"] = write.current
    params["usage"] = codec.dumps(write.usage) if write.usage else None
    params["has_checkpoint"] = write.has_checkpoint
    params["checkpoint"] = codec.dumps(write.checkpoint) if write.has_checkpoint else None
    params["rate"] = write.rate
    params["output_n"] = len(write.output)
    return params


_NO_PROGRESS = {"has_progress": False, "has_checkpoint": False, "total": None, "processed": 0,
                "current": None, "usage": None, "checkpoint": None, "rate": None,
                "output_n": 0}  # fmt: skip


def _entries(job_id: str, write: ProgressWrite | None) -> list[dict[str, Any]]:
    if write is None:
        return []
    return [
        *({"job_id": job_id, "kind": "result", "body": codec.dumps(r)} for r in write.results),
        *({"job_id": job_id, "kind": "error", "body": e} for e in write.errors),
    ]


def _write_progress(conn: sqlite3.Connection, worker_id: str, write: ProgressWrite) -> bool:
    job_id = write.lease.job_id
    params = {"id": job_id, "attempt": write.lease.attempt, "worker_id": worker_id}
    updated = conn.execute(Q["job_progress_update"], _progress_params(write, params)).rowcount
    if updated and (entries := _entries(job_id, write)):
        conn.executemany(Q["entry_insert"], entries)
    if updated and write.output:
        _insert_output(conn, job_id, write.output)
    return bool(updated)


def _insert_output(conn: sqlite3.Connection, job_id: str, output: str) -> None:
    """A write's output as chunks, after its fenced update counted it in output_length."""
    written = len(output)
    conn.executemany(
        Q["output_insert"],
        [
            {"job_id": job_id, "written": written, "position": position, "body": piece}
            for position, piece in output_pieces(output)
        ],
    )


def _finish(conn: sqlite3.Connection, worker_id: str, outcome: Outcome) -> bool:
    """The attempt's last entries, then one statement that ends it with its last progress.
    Entries first, fenced as the statement is: the status change sets off the triggers that
    count a batch child's results (migrations/004_batches.sql), and they must see them all."""
    job_id = outcome.lease.job_id
    status = outcome.status
    entries = _entries(job_id, outcome.progress)
    if outcome.error:
        body = f"attempt {outcome.lease.attempt}: {outcome.error}"
        entries.append({"job_id": job_id, "kind": "error", "body": body})
    fence = {"id": job_id, "attempt": outcome.lease.attempt, "worker_id": worker_id}
    if entries:
        if conn.execute(Q["job_held"], fence).fetchone() is None:
            return False
        conn.executemany(Q["entry_insert"], entries)
    params = {
        **fence,
        "status": status.value,
        # SQL NULL reads back as None just as 'null' would, without encoding it per job
        "result": codec.dumps(outcome.result)
        if status is Status.COMPLETED and outcome.result is not None
        else None,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "retry_at": outcome.retry_at,
        "completed_at": outcome.finished_at if status in FINISHED else None,
    }
    updated = conn.execute(Q["job_finish"], _progress_params(outcome.progress, params)).rowcount
    if not updated:
        return False
    if outcome.progress is not None and outcome.progress.output:
        _insert_output(conn, job_id, outcome.progress.output)
    return True
