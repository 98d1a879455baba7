"""Three workers share one PostgreSQL, as if on three machines; one of them is SIGKILLed mid-run.

Each worker is its own process tree with its own connection pool and LISTEN connection, which is
all a second machine would change (separate network namespaces are not needed to show it). Every
job must end completed exactly once: its completion is written once, and only the jobs the killed
worker held may have started twice.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from underway.worker.config import AHEAD_BATCHES

from .conftest import Harness, wait_until

pytestmark = pytest.mark.slow

JOBS = 3000


@pytest.fixture
def url(postgres_url: str) -> str:
    """This module runs on PostgreSQL only."""
    return postgres_url


def test_three_workers_one_killed_every_job_completes_exactly_once(uw: Harness) -> None:
    ids = uw.app.dispatch_many("steady", [{"seconds": 0.002}] * JOBS)
    flags = ("--processes", "1", "--concurrency", "4", "--lease", "2", "--tries", "2")
    workers = [uw.worker(*flags) for _ in range(3)]
    wait_until(lambda: len(uw.lines("finished")) >= JOBS // 3, "a third of the jobs")
    victim = workers[0]
    victim.send(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL

    wait_until(
        lambda: uw.app.stats()["queues"] == {"default": {"completed": JOBS}},
        "every job completed",
        timeout=120,
    )
    for worker in workers[1:]:
        worker.send(signal.SIGTERM)
        assert worker.wait() == 0, worker.log()

    finished = Counter(uw.lines("finished"))
    assert set(finished) == set(ids)
    twice = {job for job, times in finished.items() if times > 1}
    # Only a job the killed worker had started can have run again, on its second attempt.
    assert all(uw.get(job)["attempts"] == 2 for job in twice)
    # Its four slots, and the short jobs its child may hold beyond them: rescued like the
    # running ones, attempt charged.
    held = 4 * (1 + AHEAD_BATCHES)
    assert sum(1 for job in ids if uw.get(job)["attempts"] == 2) <= held
