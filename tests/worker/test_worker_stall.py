"""A stall that blocks every worker at once re-runs no job of a live worker.

Another client holds the database's write lock past the lease (SQLite: BEGIN IMMEDIATE; PostgreSQL:
an ACCESS EXCLUSIVE lock on its jobs table), so every worker's store calls wait, and every lease
runs out meanwhile. The first worker whose call returns must not take that for the death of the
others: a worker rescues only after it has itself seen the store without a break for a full
lease, so each live worker has that long to renew its leases.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from .conftest import Harness, wait_until

pytestmark = pytest.mark.slow

JOBS = 18
LEASE = 3.0


def test_a_stall_of_every_worker_runs_no_job_twice(uw: Harness) -> None:
    stall = 5.0 if uw.url.startswith("sqlite") else 6.0
    seconds = [2 + (i * 7 % 9) / 2 for i in range(JOBS)]  # 2 to 6 s, mixed
    ids = [uw.dispatch("noted", seconds=s) for s in seconds]
    flags = ("--processes", "1", "--concurrency", "4", "--lease", f"{LEASE:g}", "--sleep", "0.1")
    workers = [uw.worker(*flags) for _ in range(3)]
    wait_until(lambda: len(uw.lines("runs")) >= 10, "ten jobs to start")

    with uw.write_lock():
        time.sleep(stall)

    documents = [uw.wait(job_id, timeout=60) for job_id in ids]
    assert [d["status"] for d in documents] == ["completed"] * JOBS
    starts = Counter(line.split()[0] for line in uw.lines("runs"))
    assert {job: n for job, n in starts.items() if n > 1} == {}, "\n".join(uw.lines("runs"))
    assert [d["attempts"] for d in documents] == [1] * JOBS
    for worker in workers:
        assert worker.popen.poll() is None, worker.log()
        assert "lost its worker" not in worker.log(), worker.log()
