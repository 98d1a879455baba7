"""Attempts on PostgreSQL: a worker claims jobs (SKIP LOCKED), writes their progress, and
finishes or releases them, every write fenced by its lease. Claims and batched finishes are each
one statement (one transaction, one round trip); progress writes are short pipelined
transactions that need not wait for the WAL flush. Queries in sql/postgres/attempts.sql."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from ...model import ClaimRequest, JobRecord, Lease, Outcome, ProgressWrite, Status
from ..rows import (
    claim_one_params,
    claim_params,
    in_claim_order,
    job_record,
    output_pieces,
    release_params,
)
from .connection import PooledConnection, PostgresConnection
from .values import json_text, plain_text
from .watch import notify_watchers

log = logging.getLogger("underway.store")


class PostgresAttempts(PostgresConnection):
    def job_claim(self, worker_id: str, request: ClaimRequest) -> list[JobRecord]:
        if request.limit <= 0:
            return []
        with self._connection() as conn:
            if len(request.queues) <= 1:  # one statement: its own transaction
                return self._claim(conn, worker_id, request, async_commit=True)
            with conn.transaction():
                return self._claim(conn, worker_id, request, async_commit=True)

    def _claim(
        self,
        conn: PooledConnection,
        worker_id: str,
        request: ClaimRequest,
        async_commit: bool = False,
    ) -> list[JobRecord]:
        """Queues in order, each taking what the ones before it left of the limit.

        async_commit, for a transaction that only claims: a claim lost with the server's last
        unflushed commits only puts its jobs back to pending, to run again as after a worker
        crash (at least once), so an idle worker's pickup need not wait for the WAL flush.
        Outcomes and checkpoints always do."""
        params = claim_params(worker_id, request)
        params["async_commit"] = async_commit
        claimed: list[JobRecord] = []
        queues: list[str | None] = [*request.queues] or [None]  # None: every queue
        cur = conn.cursor(row_factory=tuple_row)
        for queue in queues:
            params["limit"] = request.limit - len(claimed)
            if params["limit"] <= 0:
                break
            query = self._q["job_claim_any"] if queue is None else self._q["job_claim_queue"]
            rows = cur.execute(query, params | {"queue": queue}).fetchall()
            claimed.extend(in_claim_order(rows))
        return claimed

    def job_claim_one(
        self, worker_id: str, job_id: str, lease_seconds: float, now: float
    ) -> JobRecord | None:
        params = claim_one_params(worker_id, job_id, lease_seconds, now)
        with self._connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            row = cur.execute(self._q["job_claim_id"], params).fetchone()
        return None if row is None else job_record(row)

    def job_write_progress(self, worker_id: str, writes: Sequence[ProgressWrite]) -> list[str]:
        if not writes:
            return []
        params = [_progress_params(worker_id, write) for write in writes]
        with self._connection() as conn:
            with conn.pipeline(), conn.transaction():
                conn.execute(self._q["async_commit"])
                cur = conn.cursor()
                cur.executemany(self._q["job_progress_update"], params, returning=True)
                ids = [write.lease.job_id for write in writes]
                notify_watchers(conn, self._q["notify_jobs"], self.job_channel, ids)
            accepted = _returned_ids(cur)
        return [w.lease.job_id for w in writes if w.lease.job_id not in accepted]

    def job_finish(self, worker_id: str, outcomes: Sequence[Outcome]) -> list[str]:
        if not outcomes:
            return []
        with self._connection() as conn:
            refused = self._finish(conn, worker_id, outcomes)
            self._tell_watchers(conn, outcomes, refused)
        return refused

    def job_finish_and_claim(
        self, worker_id: str, outcomes: Sequence[Outcome], claim: ClaimRequest
    ) -> tuple[list[str], list[JobRecord]]:
        with self._connection() as conn:
            with conn.transaction():
                # One commit for both state changes.
                refused = self._finish(conn, worker_id, outcomes) if outcomes else []
                conn.execute(self._q["claim_in_order"])  # for the rest of this transaction
                claimed = self._claim(conn, worker_id, claim)
            self._tell_watchers(conn, outcomes, refused)
        return refused, claimed

    def _tell_watchers(
        self, conn: PooledConnection, outcomes: Sequence[Outcome], refused: list[str]
    ) -> None:
        """Notify event streams of the finished jobs, after their commit and in a transaction
        of its own. A transaction that NOTIFYs holds PostgreSQL's one notification lock from
        its commit's start to its end; the finish's commit waits for its WAL flush, so every
        worker's finishes would queue behind each other's flushes. This one does not wait."""
        lost = set(refused)
        finished = [o.lease.job_id for o in outcomes if o.lease.job_id not in lost]
        if not finished:
            return
        try:
            with conn.pipeline(), conn.transaction():
                conn.execute(self._q["async_commit"])
                notify_watchers(conn, self._q["notify_jobs"], self.job_channel, finished)
        except psycopg.Error as exc:
            # The finish is committed: it must not be reported as failed (and written again).
            # A watcher that misses this re-reads its jobs when it reconnects, or within
            # hub.FULL_RECHECK seconds.
            log.info("could not tell event streams of %d finished jobs: %s", len(finished), exc)

    def _finish(
        self, conn: PooledConnection, worker_id: str, outcomes: Sequence[Outcome]
    ) -> list[str]:
        params = {
            "outcomes": json_text([_outcome_row(n, o) for n, o in enumerate(outcomes)]),
            "worker_id": worker_id,
            "channel": self.channel,
        }
        # One statement: every outcome with its last progress, in one round trip.
        rows = conn.execute(self._q["job_finish"], params).fetchall()
        accepted = {row["id"] for row in rows}
        return [o.lease.job_id for o in outcomes if o.lease.job_id not in accepted]

    def job_release(self, worker_id: str, leases: Sequence[Lease], now: float) -> None:
        if not leases:
            return
        params = release_params(worker_id, leases, now, channel=self.channel)
        with self._connection() as conn, conn.pipeline(), conn.transaction():
            conn.cursor().executemany(self._q["job_release"], params)


def _progress_params(worker_id: str, write: ProgressWrite) -> dict[str, Any]:
    return {
        "id": write.lease.job_id,
        "attempt": write.lease.attempt,
        "worker_id": worker_id,
        "total": write.total,
        "processed": write.processed,
        "current": plain_text(write.current),
        "usage": json_text(write.usage) if write.usage else None,
        "has_checkpoint": write.has_checkpoint,
        "checkpoint": json_text(write.checkpoint) if write.has_checkpoint else None,
        "entries": json_text(_entries(write)),
        "rate": write.rate,
        "output_n": len(write.output),
        "output": json_text(_output_chunks(write.output)) if write.output else None,
    }


def _outcome_row(n: int, outcome: Outcome) -> dict[str, Any]:
    ended = outcome.status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    progress = outcome.progress
    entries = _entries(progress) if progress is not None else []
    if outcome.error:
        entries.append(
            {"kind": "error", "body": f"attempt {outcome.lease.attempt}: {outcome.error}"}
        )
    return {
        "n": n,
        "id": outcome.lease.job_id,
        "attempt": outcome.lease.attempt,
        "status": outcome.status.value,
        "result": outcome.result if outcome.status == Status.COMPLETED else None,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "retry_at": outcome.retry_at,
        "completed_at": outcome.finished_at if ended else None,
        "has_progress": progress is not None,
        "total": progress.total if progress else None,
        "processed": progress.processed if progress else 0,
        "current": progress.current if progress else None,
        "usage": (progress.usage or None) if progress else None,
        "has_checkpoint": bool(progress and progress.has_checkpoint),
        "checkpoint": progress.checkpoint if progress and progress.has_checkpoint else None,
        "entries": entries,
        "rate": progress.rate if progress else None,
        "output_n": len(progress.output) if progress else 0,
        "output": _output_chunks(progress.output) if progress and progress.output else None,
    }


def _entries(write: ProgressWrite) -> list[dict[str, Any]]:
    return [
        *({"kind": "result", "body": result} for result in write.results),
        *({"kind": "error", "body": error} for error in write.errors),
    ]


def _output_chunks(output: str) -> list[dict[str, Any]]:
    """The output as the statements' chunks; a NUL, which PostgreSQL cannot store, becomes
    U+FFFD (job.stream does that already; a write made by other means is kept storable)."""
    return [{"pos": pos, "body": plain_text(body)} for pos, body in output_pieces(output)]


def _returned_ids(cur: psycopg.Cursor[Any]) -> set[str]:
    """Ids returned by every statement of an executemany(returning=True)."""
    ids: set[str] = set()
    for _ in cur.results():
        ids.update(row["id"] for row in cur.fetchall())
    return ids
