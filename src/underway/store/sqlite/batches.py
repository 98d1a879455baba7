"""Batches on SQLite: create and grow them, read their counters and pages, settle their
callbacks, cancel and retry them. Queries in sql/sqlite/batches.sql.

The counters are the triggers' (migrations/004_batches.sql): they run inside the statement that
moves a child, so that every write transaction sees them exact. SQLite has one writer at a time,
so settling needs no more than its write transaction: of two stores racing to settle a batch,
the second finds its flags cleared and dispatches nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

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
    retry_refused,
    settlement,
)
from ..rows import insert_row
from .connection import Q, SQLiteConnection

# 13 parameters a child: a statement stays within 999, the smallest limit SQLite has had.
CHILDREN_PER_INSERT = 76
_HEAD, _, _ROW = Q["batch_children_insert"].rpartition("VALUES")
_INSERT_ONE = Q["batch_children_insert"]
_INSERT_MANY = f"{_HEAD}VALUES {', '.join([_ROW.strip()] * CHILDREN_PER_INSERT)}"


class SQLiteBatches(SQLiteConnection):
    def batch_create(self, batch: NewBatch, children: Iterable[NewJob]) -> None:
        def begin(conn: sqlite3.Connection) -> None:
            conn.execute(Q["batch_insert"], batch_params(batch))

        if not self._write_children(batch.id, children, begin):
            with self._write() as conn:  # no children: a batch that has nothing to wait for
                begin(conn)
                conn.execute(Q["batch_built"], {"id": batch.id})

    def batch_add(self, batch_id: str, children: Iterable[NewJob]) -> int:
        return self._write_children(batch_id, children, lambda conn: self._open(conn, batch_id))

    def _write_children(
        self,
        batch_id: str,
        children: Iterable[NewJob],
        begin: Callable[[sqlite3.Connection], None],
    ) -> int:
        """A transaction per group of children, begin() in the first; the last group's also
        ends the call's building. A batch cancelled (or stopped by a failure) meanwhile gets
        no more."""
        added, begun = 0, False
        try:
            for group, last in child_groups(children):
                with self._write() as conn:
                    if not begun:
                        begin(conn)
                    elif conn.execute(Q["batch_stopped"], {"id": batch_id}).fetchone()[0]:
                        group, last = [], True
                    _insert_children(conn, group)
                    added += len(group)
                    if last:
                        conn.execute(Q["batch_built"], {"id": batch_id})
                begun = True
                if last:
                    break
        except BaseException:
            if begun:  # the children written count; the batch must be able to end
                with contextlib.suppress(Exception), self._write() as conn:
                    conn.execute(Q["batch_built"], {"id": batch_id})
            raise
        return added

    def _open(self, conn: sqlite3.Connection, batch_id: str) -> None:
        if conn.execute(Q["batch_open"], {"id": batch_id}).rowcount:
            return
        row = conn.execute(Q["batch_get"], {"id": batch_id}).fetchone()
        if row is None:
            raise batch_not_found(batch_id)
        raise add_refused(batch_record(row))

    def batch_get(self, batch_id: str) -> BatchRecord | None:
        with self._as_store_errors():
            row = self._conn.execute(Q["batch_get"], {"id": batch_id}).fetchone()
        return None if row is None else batch_record(row)

    def batch_results(self, batch_id: str, offset: int, limit: int) -> list[Any]:
        params = {"id": batch_id, "offset": max(offset, 0), "limit": max(limit, 0)}
        with self._as_store_errors():
            rows = self._conn.execute(Q["batch_results"], params).fetchall()
        return [codec.loads(body) for (body,) in rows]

    def batch_errors(self, batch_id: str, limit: int) -> list[dict[str, Any]]:
        params = {"id": batch_id, "limit": max(limit, 0)}
        with self._as_store_errors():
            rows = self._conn.execute(Q["batch_errors"], params).fetchall()
        return [error_entry(*row) for row in rows]

    def batch_due(self, limit: int) -> list[BatchRecord]:
        with self._as_store_errors():
            rows = self._conn.execute(Q["batch_due"], {"limit": limit}).fetchall()
        return [batch_record(row) for row in rows]

    def batch_settle(
        self, batch_id: str, callbacks: Mapping[str, NewJob], now: float
    ) -> list[tuple[str, str]]:
        with self._write() as conn:
            row = conn.execute(Q["batch_get"], {"id": batch_id}).fetchone()
            if row is not None and batch_record(row).failure_due:
                # The rest of a batch that allows no failure stops; it ends here as well.
                conn.execute(Q["batch_children_cancel"], {"id": batch_id, "now": now})
                row = conn.execute(Q["batch_get"], {"id": batch_id}).fetchone()
            plan = None if row is None else settlement(batch_record(row))
            if plan is None:
                return []
            if not conn.execute(Q["batch_settled"], plan.params).rowcount:
                return []
            jobs = [(kind, callbacks[kind]) for kind in plan.callbacks if kind in callbacks]
            conn.executemany(
                Q["jobs_insert_many"], [insert_row(job, job.encoded_args()) for _, job in jobs]
            )
        return [(kind, job.id) for kind, job in jobs]

    def batch_cancel(self, batch_id: str, now: float) -> BatchRecord:
        with self._write() as conn:
            record = _record(conn, batch_id)
            if record.cancelled_at is not None or record.completed_at is not None:
                raise cancel_refused(record)
            conn.execute(Q["batch_children_cancel"], {"id": batch_id, "now": now})
            conn.execute(Q["batch_cancel"], {"id": batch_id, "now": now})
            return _record(conn, batch_id)

    def batch_retry(self, batch_id: str, now: float) -> list[str]:
        with self._write() as conn:
            record = _record(conn, batch_id)
            if not (record.jobs_failed or record.jobs_cancelled):
                raise retry_refused(record)
            rows = conn.execute(Q["batch_children_retry"], {"id": batch_id, "now": now})
            retried = [job_id for (job_id,) in rows]
            conn.execute(Q["batch_resume"], {"id": batch_id})
        return retried


def _record(conn: sqlite3.Connection, batch_id: str) -> BatchRecord:
    row = conn.execute(Q["batch_get"], {"id": batch_id}).fetchone()
    if row is None:
        raise batch_not_found(batch_id)
    return batch_record(row)


def _insert_children(conn: sqlite3.Connection, children: Sequence[NewJob]) -> None:
    """Whole statements of CHILDREN_PER_INSERT rows, then the rest a row at a time."""
    whole = len(children) - len(children) % CHILDREN_PER_INSERT
    for start in range(0, whole, CHILDREN_PER_INSERT):
        params: list[Any] = []
        for job in children[start : start + CHILDREN_PER_INSERT]:
            params += child_row(job, job.encoded_args())
        conn.execute(_INSERT_MANY, params)
    conn.executemany(_INSERT_ONE, [child_row(job, job.encoded_args()) for job in children[whole:]])
