"""Every job's side effect happens once, and every job ends completed, with workers competing."""

from __future__ import annotations

from collections import Counter

import pytest

from .conftest import Harness

pytestmark = pytest.mark.slow

JOBS = 2000


def test_two_workers_of_two_processes_by_two_slots_run_each_job_exactly_once(uw: Harness) -> None:
    ids = [uw.dispatch("record") for _ in range(JOBS)]
    flags = ("--processes", "2", "--concurrency", "2", "--lease", "5", "--burst")
    first, second = uw.worker(*flags), uw.worker(*flags)

    assert first.wait(90) == 0, first.log()
    assert second.wait(90) == 0, second.log()

    effects = Counter(uw.lines("effects"))
    assert set(effects) == set(ids)
    assert [job for job, times in effects.items() if times != 1] == []
    assert uw.app.stats()["queues"] == {"default": {"completed": JOBS}}
