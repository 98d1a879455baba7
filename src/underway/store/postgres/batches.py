"""Batches on PostgreSQL: create and grow them (children by COPY), read their counters and pages,
settle their callbacks, cancel and retry them. Queries in sql/postgres/batches.sql.

The counters are the triggers' (migrations/004_batches.sql): each transaction's changes to a
batch are summed and added to the batch's row when it commits, if the row is free; otherwise
they wait in batch_deltas for the next fold, and reading a batch adds them (batch_counted). No
worker ever waits for a batch's row. The calls here that change a batch's row (creating,
settling, cancel, retry) lock it, waiting, and fold into it first (batch_fold_now); none of them
waits for a job's row while it holds a batch's. Of many stores settling one batch, the row lock
and the conditional clearing of its flags let exactly one dispatch its callbacks.

A call writing children counts them itself, a group at a time (batch_writing, batch_written):
a sum per child inserted would cost more than the insert.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from psycopg.rows import dict_row

from ... import codec
from ...model import BatchRecord, NewBatch, NewJob
from ..batchrows import (
    add_refused,
    batch_not_found,
    batch_params,
    batch_record,
    cancel_refused,
    child_groups,
    child_row,
    error_entry,
    items_of,
    retry_refused,
    settlement,
)
from ..rows import insert_params
from .connection import PooledConnection, PostgresConnection
from .values import json_text
from .watch import notify_watchers

PENDING = "pending"


class PostgresBatches(PostgresConnection):
    def batch_create(self, batch: NewBatch, children: Iterable[NewJob]) -> None:
        def begin(conn: PooledConnection) -> None:
            conn.execute(self._q["batch_insert"], batch_params(batch))

        if not self._write_children(batch.id, children, begin):
            with self._connection() as conn, conn.transaction():
                begin(conn)  # no children: a batch that has nothing to wait for
                self._written(conn, batch.id, [], True)

    def batch_add(self, batch_id: str, children: Iterable[NewJob]) -> int:
        return self._write_children(batch_id, children, lambda conn: self._open(conn, batch_id))

    def _write_children(
        self,
        batch_id: str,
        children: Iterable[NewJob],
        begin: Callable[[PooledConnection], None],
    ) -> int:
        """A transaction per group of children, begin() in the first; the last group's also
        ends the call's building. A batch cancelled (or stopped by a failure) meanwhile gets
        no more."""
        added, begun = 0, False
        try:
            for group, last in child_groups(children):
                rows = [_copy_row(job) for job in group]  # a NUL is refused before writing
                with self._connection() as conn, conn.transaction():
                    if not begun:
                        begin(conn)
                    elif self._stopped(conn, batch_id):
                        group, rows, last = [], [], True
                    conn.execute(self._q["batch_writing"], {"id": batch_id})
                    self._copy_children(conn, rows)
                    self._written(conn, batch_id, group, last)
                    added += len(rows)
                begun = True
                if last:
                    break
        except BaseException:
            if begun:  # the children written count; the batch must be able to end
                with contextlib.suppress(Exception), self._connection() as conn:
                    self._written(conn, batch_id, [], True)
            raise
        return added

    def _written(
        self, conn: PooledConnection, batch_id: str, group: Sequence[NewJob], last: bool
    ) -> None:
        """Count the children this transaction wrote (the insert triggers leave them to this,
        see the migration) and, after the last, end the call's building."""
        params = {
            "id": batch_id,
            "jobs": len(group),
            "items": sum(items_of(job) for job in group),
            "built": -1 if last else 0,
        }
        conn.execute(self._q["batch_written"], params)

    def _copy_children(self, conn: PooledConnection, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        with conn.cursor() as cur:
            with cur.copy(self._q["batch_children_insert"]) as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(self._q["batch_notify"], {"channel": self.channel})

    def _stopped(self, conn: PooledConnection, batch_id: str) -> bool:
        row = conn.execute(self._q["batch_stopped"], {"id": batch_id}).fetchone()
        return row is None or bool(row["stopped"])

    def _open(self, conn: PooledConnection, batch_id: str) -> None:
        if conn.execute(self._q["batch_open"], {"id": batch_id}).fetchone() is not None:
            return
        row = conn.execute(self._q["batch_get"], {"id": batch_id}).fetchone()
        if row is None:
            raise batch_not_found(batch_id)
        raise add_refused(batch_record(row))

    def batch_get(self, batch_id: str) -> BatchRecord | None:
        with self._connection() as conn:
            row = conn.execute(self._q["batch_get"], {"id": batch_id}).fetchone()
        return None if row is None else batch_record(row)

    def batch_results(self, batch_id: str, offset: int, limit: int) -> list[Any]:
        params = {"id": batch_id, "offset": max(offset, 0), "limit": max(limit, 0)}
        with self._connection() as conn, conn.transaction():
            conn.execute(self._q["batch_read_in_order"])  # for this transaction only
            rows = conn.execute(self._q["batch_results"], params).fetchall()
        return [codec.loads(row["body"]) for row in rows]

    def batch_errors(self, batch_id: str, limit: int) -> list[dict[str, Any]]:
        params = {"id": batch_id, "limit": max(limit, 0)}
        with self._connection() as conn:
            rows = conn.execute(self._q["batch_errors"], params).fetchall()
        return [error_entry(row["id"], row["error"], row["args"]) for row in rows]

    def batch_due(self, limit: int) -> list[BatchRecord]:
        with self._connection() as conn:
            # Deltas left by transactions that found the row busy: an end they make shows here.
            conn.execute(self._q["batch_fold_waiting"], {"limit": limit})
            rows = conn.execute(self._q["batch_due"], {"limit": limit}).fetchall()
        return [batch_record(row) for row in rows]

    def batch_settle(
        self, batch_id: str, callbacks: Mapping[str, NewJob], now: float
    ) -> list[tuple[str, str]]:
        with self._connection() as conn, conn.transaction():
            before = conn.execute(self._q["batch_get"], {"id": batch_id}).fetchone()
            if before is not None and before["failure_due"]:
                # The rest of a batch that allows no failure stops: its children first.
                self._cancel_children(conn, batch_id, now, failing=True)
            row = None
            if self._fold_now(conn, batch_id):
                row = conn.execute(self._q["batch_locked"], {"id": batch_id}).fetchone()
            plan = None if row is None else settlement(batch_record(row))
            if plan is None or not conn.execute(self._q["batch_settled"], plan.params).rowcount:
                return []
            jobs = [(kind, callbacks[kind]) for kind in plan.callbacks if kind in callbacks]
            with conn.cursor(row_factory=dict_row) as cur:
                for _, job in jobs:
                    params = insert_params(job, json_text(job.args, text=job.args_json))
                    cur.execute(self._q["job_insert"], {**params, "channel": self.channel})
        return [(kind, job.id) for kind, job in jobs]

    def _cancel_children(
        self, conn: PooledConnection, batch_id: str, now: float, failing: bool = False
    ) -> None:
        params = {"id": batch_id, "now": now, "failing": failing}
        rows = conn.execute(self._q["batch_children_cancel"], params).fetchall()
        self._watched(conn, [row["id"] for row in rows])

    def _fold_now(self, conn: PooledConnection, batch_id: str) -> bool:
        """Lock the batch's row and bring its counters up to date, this transaction's changes
        included; False when there is no such batch."""
        row = conn.execute(self._q["batch_fold_now"], {"id": batch_id}).fetchone()
        return bool(row and row["found"])

    def _watched(self, conn: PooledConnection, job_ids: list[str]) -> None:
        """Event streams following these children learn of the change at commit."""
        notify_watchers(conn, self._q["notify_jobs"], self.job_channel, job_ids)

    def batch_cancel(self, batch_id: str, now: float) -> BatchRecord:
        with self._connection() as conn:
            with conn.transaction():
                record = self._record(conn, batch_id)
                if record.cancelled_at is not None or record.completed_at is not None:
                    raise cancel_refused(record)
                self._cancel_children(conn, batch_id, now)
                self._fold_now(conn, batch_id)
                conn.execute(self._q["batch_cancel"], {"id": batch_id, "now": now})
            return self._record(conn, batch_id)

    def batch_retry(self, batch_id: str, now: float) -> list[str]:
        params = {"id": batch_id, "now": now}
        with self._connection() as conn, conn.transaction():
            record = self._record(conn, batch_id)
            if not (record.jobs_failed or record.jobs_cancelled):
                raise retry_refused(record)
            rows = conn.execute(self._q["batch_children_retry"], params).fetchall()
            retried = [row["id"] for row in rows]
            self._watched(conn, retried)
            self._fold_now(conn, batch_id)
            conn.execute(self._q["batch_resume"], {"id": batch_id})
            conn.execute(self._q["batch_notify"], {"channel": self.channel})
        return retried

    def _record(self, conn: PooledConnection, batch_id: str) -> BatchRecord:
        row = conn.execute(self._q["batch_get"], {"id": batch_id}).fetchone()
        if row is None:
            raise batch_not_found(batch_id)
        return batch_record(row)


def _copy_row(job: NewJob) -> tuple[Any, ...]:
    row = child_row(job, json_text(job.args, strict=True, text=job.args_json))
    return (*row[:3], PENDING, *row[3:])  # COPY's columns: status after queue
