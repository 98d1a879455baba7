"""Live output (job.stream) and the progress rate: stored with fenced writes, read from any
character offset, carried across attempts up to the cap, and deleted with its job."""

from __future__ import annotations

import pytest

from underway.errors import OutputTooLarge
from underway.job import OUTPUT_LIMIT, Job
from underway.model import Status, status_document
from underway.store import Lease, Outcome, ProgressWrite, Store
from underway.store.rows import OUTPUT_CHUNK

from .helpers import NOW, claim_one, enqueue, finish, get, new_job

# Code points of one, two, three and four UTF-8 bytes: offsets count characters, not bytes.
TEXT = "ascii é ✓ 😀 "


def output(store: Store, job_id: str, offset: int = 0, limit: int = 10 * OUTPUT_LIMIT) -> str:
    found = store.job_output(job_id, offset, limit)
    assert found is not None, f"job {job_id} is gone"
    return found[0]


def stream(store: Store, lease: Lease, text: str, worker: str = "w1") -> list[str]:
    return store.job_write_progress(worker, [ProgressWrite(lease, output=text)])


def test_output_is_appended_in_order_and_counted(store: Store) -> None:
    job_id = enqueue(store)
    assert store.job_output(job_id, 0, 100) == ("", 0)
    lease = claim_one(store, job_id)
    assert stream(store, lease, "building...\n") == []
    assert stream(store, lease, TEXT) == []
    assert (
        finish(store, lease, Status.COMPLETED, progress=ProgressWrite(lease, output="done")) == []
    )
    whole = "building...\n" + TEXT + "done"
    assert store.job_output(job_id, 0, 1000) == (whole, len(whole))
    record = get(store, job_id)
    assert record.output_length == len(whole)
    assert status_document(record)["output_length"] == len(whole)


def test_output_reads_from_character_offsets(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    # Small writes, then one long enough to be stored as several chunks.
    pieces = [TEXT * n for n in range(1, 6)] + [TEXT * (2 * OUTPUT_CHUNK // len(TEXT) + 7)]
    for piece in pieces:
        assert stream(store, lease, piece) == []
    whole = "".join(pieces)
    assert len(whole) > 2 * OUTPUT_CHUNK
    length = len(whole)
    assert output(store, job_id) == whole
    boundary = len("".join(pieces[:-1])) + OUTPUT_CHUNK  # where two stored chunks meet
    for offset in (0, 1, 7, len(pieces[0]), boundary - 3, boundary, length - 5, length - 1):
        for limit in (0, 1, 5, 100, OUTPUT_CHUNK + 11):
            assert store.job_output(job_id, offset, limit) == (
                whole[offset : offset + limit],
                length,
            ), (offset, limit)
    assert store.job_output(job_id, length, 10) == ("", length)
    assert store.job_output(job_id, length + 1000, 10) == ("", length)
    assert store.job_output(job_id, 10**30, 10**30) == ("", length)


def test_output_of_an_unknown_job_is_none(store: Store) -> None:
    assert store.job_output(new_job().id, 0, 10) is None


def test_output_and_rate_arrive_with_the_outcome_too(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    progress = ProgressWrite(lease, total=10, processed=10, output="all of it", rate=4.5)
    assert finish(store, lease, Status.COMPLETED, progress=progress) == []
    record = get(store, job_id)
    assert (output(store, job_id), record.output_length) == ("all of it", 9)
    assert record.progress_rate == 4.5
    assert status_document(record)["progress"]["rate_per_s"] == 4.5
    assert status_document(record)["progress"]["eta_s"] is None  # nothing left once finished


def test_the_rate_is_stored_and_gives_the_eta_while_processing(store: Store) -> None:
    job_id = enqueue(store)
    lease = claim_one(store, job_id)
    assert get(store, job_id).progress_rate is None
    write = ProgressWrite(lease, total=100, processed=40, rate=12.5)
    assert store.job_write_progress("w1", [write]) == []
    progress = status_document(get(store, job_id))["progress"]
    assert (progress["rate_per_s"], progress["eta_s"]) == (12.5, 4.8)
    # A write that has not measured a rate yet says so: the stored one is not kept stale.
    assert store.job_write_progress("w1", [ProgressWrite(lease, total=100, processed=41)]) == []
    progress = status_document(get(store, job_id))["progress"]
    assert (progress["rate_per_s"], progress["eta_s"]) == (None, None)
    # An outcome without progress keeps what is stored.
    assert store.job_write_progress("w1", [ProgressWrite(lease, processed=50, rate=2.0)]) == []
    assert finish(store, lease, Status.FAILED, error="E: x") == []
    assert get(store, job_id).progress_rate == 2.0


def test_a_stale_attempts_output_is_refused(store: Store) -> None:
    job_id = enqueue(store, max_attempts=3)
    first = claim_one(store, job_id)
    assert stream(store, first, "first attempt\n") == []
    retry = Outcome(first, Status.PENDING, NOW + 1, error="E: 1", retry_at=NOW)
    assert store.job_finish("w1", [retry]) == []
    second = claim_one(store, job_id, now=NOW + 2)
    assert stream(store, second, "second attempt\n") == []

    assert stream(store, first, "zombie progress\n") == [job_id]
    assert stream(store, second, "other worker\n", worker="w2") == [job_id]
    zombie = Outcome(first, Status.COMPLETED, NOW + 3, progress=ProgressWrite(first, output="z"))
    assert store.job_finish("w1", [zombie]) == [job_id]
    assert output(store, job_id) == "first attempt\nsecond attempt\n"
    assert get(store, job_id).output_length == len("first attempt\nsecond attempt\n")


def test_a_stale_and_a_live_attempt_in_one_batch_keep_their_own_output(store: Store) -> None:
    job_id = enqueue(store, max_attempts=3)
    first = claim_one(store, job_id)
    retry = Outcome(first, Status.PENDING, NOW + 1, error="E: 1", retry_at=NOW)
    assert store.job_finish("w1", [retry]) == []
    second = claim_one(store, job_id, now=NOW + 2)
    outcomes = [
        Outcome(first, Status.COMPLETED, NOW + 3, progress=ProgressWrite(first, output="stale")),
        Outcome(second, Status.COMPLETED, NOW + 3, progress=ProgressWrite(second, output="live")),
    ]
    store.job_finish("w1", outcomes)  # refused ids name jobs: this one was also accepted
    assert store.job_output(job_id, 0, 100) == ("live", 4)
    assert get(store, job_id).status == Status.COMPLETED


def test_output_carries_over_attempts_up_to_the_cap(store: Store) -> None:
    job_id = enqueue(store, max_attempts=2)
    first = claim_one(store, job_id)
    almost = "x" * (OUTPUT_LIMIT - 5)
    progress = ProgressWrite(first, output=almost)
    retry = Outcome(first, Status.PENDING, NOW + 1, error="E: 1", retry_at=NOW, progress=progress)
    assert store.job_finish("w1", [retry]) == []

    record = store.job_claim_one("w1", job_id, 30.0, NOW + 2)
    assert record is not None and record.output_length == OUTPUT_LIMIT - 5
    job = Job.resuming(record, saver=None)
    with pytest.raises(OutputTooLarge, match=rf"{job_id}.*limit of 1,000,000"):
        job.stream("123456")
    job.stream("12345")
    with pytest.raises(OutputTooLarge):
        job.stream("!")
    write = job.take_progress()
    assert write is not None and write.output == "12345"
    assert store.job_write_progress("w1", [write]) == []
    assert get(store, job_id).output_length == OUTPUT_LIMIT
    assert output(store, job_id, OUTPUT_LIMIT - 10) == "xxxxx12345"


def test_delete_removes_the_output(store: Store) -> None:
    job = new_job()
    store.job_enqueue(job)
    lease = claim_one(store, job.id)
    assert finish(store, lease, Status.COMPLETED, progress=ProgressWrite(lease, output="old")) == []
    assert store.job_delete(job.id) is True
    assert store.job_output(job.id, 0, 10) is None
    # Stored again under the same id, the job reads only its own output: none of the old chunks
    # is left to be read with it.
    store.job_enqueue(job)
    assert store.job_output(job.id, 0, 10) == ("", 0)
    lease = claim_one(store, job.id)
    assert stream(store, lease, "new") == []
    assert store.job_output(job.id, 0, 10) == ("new", 3)


def test_prune_removes_the_output_of_pruned_jobs_only(store: Store) -> None:
    old, kept = new_job(), new_job()
    for job, at in ((old, NOW + 10), (kept, NOW + 30)):
        store.job_enqueue(job)
        lease = claim_one(store, job.id)
        progress = ProgressWrite(lease, output=f"output of {job.id}")
        outcome = Outcome(lease, Status.COMPLETED, at, progress=progress)
        assert store.job_finish("w1", [outcome]) == []
        assert output(store, job.id) == f"output of {job.id}"
    assert store.job_prune(NOW + 20) == 1
    assert store.job_output(old.id, 0, 100) is None
    assert output(store, kept.id) == f"output of {kept.id}"
    store.job_enqueue(old)
    lease = claim_one(store, old.id)
    assert stream(store, lease, "again") == []
    assert output(store, old.id) == "again"
