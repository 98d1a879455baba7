"""A worker that claims again a job its own child still runs (its lease was rescued meanwhile)
stops the old attempt like a lost lease, drops its late outcome, and goes on with the new one.

The rescue is made here, through the store, with a `now` an hour ahead (then the job is made
ready at once, as a rescue with that `now` also delays it an hour): the job goes back to pending
while the worker's child still runs it, and the worker claims it again at its next poll, most
often before its heartbeat learns that the old lease was lost (both orders must work).
Its books are keyed by attempt, so both attempts can be held at once: in one child (two slots)
or in two (one slot each).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time

import pytest

from underway.model import Status
from underway.settings import parse_database_url

from .conftest import Harness, wait_until

pytestmark = pytest.mark.slow


def starts(uw: Harness) -> list[tuple[str, int, int]]:
    """(job id, attempt, child pid) of every start noted by the `noted` task."""
    return [(j, int(a), int(pid)) for j, a, pid, *_ in map(str.split, uw.lines("runs"))]


def rescue_under_the_worker(uw: Harness, job_id: str) -> None:
    """Requeue the job as another worker's rescue would, ready at once."""
    assert uw.app.store.lease_rescue(time.time() + 3600) == [(job_id, Status.PENDING)]
    parsed = parse_database_url(uw.url)
    if parsed.scheme == "sqlite":
        with contextlib.closing(sqlite3.connect(parsed.path, timeout=10)) as conn:
            conn.execute(
                "UPDATE underway_jobs SET available_at = ? WHERE id = ?", (time.time(), job_id)
            )
            conn.commit()
        return
    import psycopg

    with psycopg.connect(uw.url.split("?")[0]) as pg:
        pg.execute(
            f'UPDATE "{parsed.options["schema"]}".jobs SET available_at = %s WHERE id = %s',
            (time.time(), job_id),
        )


@pytest.mark.parametrize(("processes", "concurrency"), [(2, 1), (1, 2)])
def test_a_job_claimed_again_while_its_old_attempt_runs_here(
    uw: Harness, processes: int, concurrency: int
) -> None:
    flags = ("--processes", str(processes), "--concurrency", str(concurrency), "--sleep", "0.05")
    worker = uw.worker(*flags, "--lease", "30")
    job_id = uw.dispatch("noted", seconds=2.5)
    ((_, _, old_child),) = wait_until(lambda: starts(uw), "the first attempt to start")

    rescue_under_the_worker(uw, job_id)
    wait_until(lambda: len(starts(uw)) == 2, "the worker to claim the job again")
    (_, attempt, new_child) = starts(uw)[1]
    assert attempt == 2
    assert (new_child != old_child) == (processes == 2)

    done = uw.wait(job_id)
    assert (done["status"], done["attempts"], done["result"]) == ("completed", 2, 2), done
    wait_until(lambda: len(uw.lines("runs-ends")) == 2, "the old attempt to end too")
    # The worker's books are still right: a child that dies is replaced, jobs go on running,
    # and SIGTERM finds nothing left over.
    os.kill(old_child, signal.SIGKILL)
    wait_until(lambda: old_child not in worker.runner_pids(processes), "a child in its place")
    others = [uw.dispatch("record") for _ in range(4)]
    wait_until(
        lambda: (
            worker.popen.poll() is not None
            or all(uw.get(other)["status"] == "completed" for other in others)
        ),
        "the other jobs to complete",
    )
    assert worker.popen.poll() is None, worker.log()
    worker.send(signal.SIGTERM)
    assert worker.wait() == 0, worker.log()
    log = worker.log()
    assert f"noted[{job_id}] claimed again as attempt 2 while attempt 1 runs here" in log, log
    # The old attempt was stopped like a lost lease and its late outcome dropped.
    assert f"noted[{job_id}] stopped: it was cancelled or taken over" in log, log
    assert "Traceback" not in log, log
    assert uw.get(job_id) == done
