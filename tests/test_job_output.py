"""Live output and the rate inside a task: job.stream, its cap, the rate a Job measures, how
both travel (merged writes, the worker's pipe) and Underway.output in eager mode."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from underway import Job, JobNotFound, Underway
from underway.cli import main
from underway.errors import OutputTooLarge, UnderwayError
from underway.job import OUTPUT_LIMIT
from underway.model import Lease, ProgressWrite, merge_progress
from underway.worker.protocol import progress_from_wire, progress_to_wire


def test_stream_collects_text_until_the_next_write() -> None:
    job = Job("j1")
    job.stream("one ")
    job.stream("")
    job.stream("two ✓")
    write = job.take_progress()
    assert write is not None and write.output == "one two ✓"
    assert job.output_length == len("one two ✓")
    job.stream("three")
    write = job.take_progress()
    assert write is not None and write.output == "three"
    assert job.take_progress() is None  # nothing new: no write


@pytest.mark.parametrize("value", [b"bytes", None, 12, ["a"]])
def test_stream_takes_only_text(value: object) -> None:
    job = Job("j1")
    with pytest.raises(TypeError, match="stream takes a str"):
        job.stream(value)  # type: ignore[arg-type]
    assert job.take_progress() is None


def test_text_no_database_can_store_becomes_one_replacement_character_each() -> None:
    job = Job("j1")
    job.stream("a\x00b\ud800c")
    write = job.take_progress()
    assert write is not None and write.output == "a\ufffdb\ufffdc"
    assert job.output_length == 5


def test_the_cap_counts_earlier_attempts_and_keeps_nothing_of_the_text_past_it() -> None:
    assert issubclass(OutputTooLarge, UnderwayError)
    job = Job("j7", output_length=OUTPUT_LIMIT - 3)
    job.stream("abc")
    with pytest.raises(OutputTooLarge, match=r"job j7: 1 more characters .* 1,000,000") as caught:
        job.stream("d")
    assert "none of them were kept" in str(caught.value)
    write = job.take_progress()
    assert write is not None and write.output == "abc"
    assert job.output_length == OUTPUT_LIMIT


def test_the_rate_is_unknown_until_a_second_with_progress_has_passed() -> None:
    before = time.monotonic()
    job = Job("j1", total=1000)
    job.advance(50)
    write = job.take_progress()
    assert write is not None and write.rate is None  # less than a second measured
    time.sleep(1.05)
    job.advance(50)
    write = job.take_progress()
    after = time.monotonic()
    assert write is not None and write.rate is not None
    # 100 items over a window that began when the job was made and ended at the write.
    assert 100 / (after - before) <= write.rate <= 100 / 1.05


def test_no_rate_without_progress_and_a_new_window_when_counting_restarts() -> None:
    job = Job("j1", processed=10)
    time.sleep(1.05)
    job.progress(current="thinking")
    write = job.take_progress()
    assert write is not None and write.rate is None  # a second passed, but no item was done
    job.progress(processed=3)  # counted again from lower down
    write = job.take_progress()
    assert write is not None and write.rate is None


def test_merged_writes_keep_all_output_in_order_and_the_latest_rate() -> None:
    lease = Lease("j1", 1)
    older = ProgressWrite(lease, processed=1, output="first ", rate=2.0)
    newer = ProgressWrite(lease, processed=2, output="second")
    merged = merge_progress(older, newer)
    assert (merged.output, merged.rate, merged.processed) == ("first second", 2.0, 2)
    newest = ProgressWrite(lease, processed=3, rate=3.5)
    assert merge_progress(merged, newest).rate == 3.5


def test_output_and_rate_cross_the_workers_pipe() -> None:
    write = ProgressWrite(Lease("j1", 2), total=5, processed=3, output="log ✓\n", rate=1.25)
    back = progress_from_wire(progress_to_wire(write))
    assert (back.output, back.rate, back.lease) == ("log ✓\n", 1.25, Lease("j1", 2))
    quiet = progress_from_wire(progress_to_wire(ProgressWrite(Lease("j1", 2))))
    assert (quiet.output, quiet.rate) == ("", None)


def test_eager_mode_stores_output_across_attempts(sqlite_url: str) -> None:
    app = Underway(sqlite_url, eager=True)

    @app.task(tries=2)
    def build(job: Job) -> int:
        job.stream(f"attempt {job.attempt}: compiling\n")
        if job.attempt == 1:
            raise RuntimeError("flaky compiler")
        job.stream("linked ✓\n")
        return job.output_length

    job_id = build.dispatch()
    whole = "attempt 1: compiling\nattempt 2: compiling\nlinked ✓\n"
    document = app.get(job_id)
    assert document is not None
    assert (document["status"], document["result"]) == ("completed", len(whole))
    assert document["output_length"] == len(whole)
    assert document["progress"]["eta_s"] is None
    assert app.output(job_id) == whole
    assert app.output(job_id, offset=10, limit=9) == whole[10:19]
    assert app.output(job_id, offset=len(whole)) == ""


def test_output_of_a_job_that_does_not_exist(sqlite_url: str) -> None:
    app = Underway(sqlite_url)
    with pytest.raises(JobNotFound):
        app.output("01aaaaaaaaaaaaaaaaaaaaaaaa")
    with pytest.raises(JobNotFound):
        app.output("bad\x00id")
    with pytest.raises(ValueError, match="must not be negative"):
        app.output("01aaaaaaaaaaaaaaaaaaaaaaaa", offset=-1)


def test_status_and_monitor_show_the_rate_and_time_left(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNDERWAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COLUMNS", "200")
    app = Underway(sqlite_url)
    app.task(name="demo.count")(lambda: None)
    job_id = app.dispatch("demo.count")
    record = app.store.job_claim_one("w1", job_id, 60.0, time.time())
    assert record is not None
    write = ProgressWrite(Lease(job_id, record.attempts), total=500, processed=200, rate=4.0)
    assert app.store.job_write_progress("w1", [write]) == []

    status = CliRunner().invoke(main, ["status", job_id], catch_exceptions=False)
    assert "progress  200/500 (40.0%)  4/s, 0:01:15 left" in status.output
    monitor = CliRunner().invoke(main, ["monitor", job_id], catch_exceptions=False)
    assert "4/s, 0:01:15 left" in monitor.output
    app.store.close()
