"""What the supervisor has to write: progress, checkpoints and outcomes, flushed in batches.

The WriteBuffer keeps them; the OutcomeWriter writes each batch of outcomes in the background,
in one transaction with the claim that refills the slots they free. Owned by the supervisor's
thread. A batch is dropped only once the store took it, so an outage
(StoreUnavailable) loses nothing: the same writes go out again on the next flush. Progress is kept
by attempt (protocol.Key): an old attempt's and a new one's never merge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import StoreUnavailable
from ..model import ClaimRequest, JobRecord, Lease, Outcome, ProgressWrite, merge_progress
from ..store.base import Store
from .background import BackgroundCall
from .protocol import Key, key_of

log = logging.getLogger("underway.worker")


@dataclass(frozen=True, slots=True)
class PendingCheckpoint:
    write: ProgressWrite
    answer: Callable[[bool], None]  # tells the waiting task whether it was stored


class WriteBuffer:
    def __init__(self, store: Store, worker_id: str, interval: float, now: float) -> None:
        self.store = store
        self.worker_id = worker_id
        self.interval = interval
        self.next_flush = now + interval
        self.progress: dict[Key, ProgressWrite] = {}
        self.checkpoints: list[PendingCheckpoint] = []
        self.outcomes: list[tuple[str, Outcome]] = []

    def add_progress(self, key: Key, write: ProgressWrite) -> None:
        self.progress[key] = merge_progress(self.progress.get(key), write)

    def take_progress(self, key: Key) -> ProgressWrite | None:
        return self.progress.pop(key, None)

    def add_checkpoint(
        self, key: Key, write: ProgressWrite, answer: Callable[[bool], None]
    ) -> None:
        merged = merge_progress(self.take_progress(key), write)
        self.checkpoints.append(PendingCheckpoint(merged, answer))

    def drop(self, key: Key) -> None:
        """Forget what an attempt that lost its lease had left to write: its pending
        checkpoints are refused at once (the store would refuse them), so that the attempt that
        took the job over never shares a batch with them."""
        self.progress.pop(key, None)
        kept = []
        for pending in self.checkpoints:
            if key_of(pending.write.lease) == key:
                refuse_checkpoint(pending.write, pending.answer)
            else:
                kept.append(pending)
        self.checkpoints = kept

    def add_outcome(self, label: str, outcome: Outcome) -> None:
        self.outcomes.append((label, outcome))

    def take_outcomes(self) -> list[tuple[str, Outcome]]:
        """The outcomes to write now, with their jobs' labels; give them back if the write
        fails."""
        outcomes, self.outcomes = self.outcomes, []
        return outcomes

    def give_back(self, outcomes: list[tuple[str, Outcome]]) -> None:
        self.outcomes = outcomes + self.outcomes

    def next_moment(self) -> float | None:
        return self.next_flush if self.progress else None

    def flush_due(self, now: float) -> None:
        """Write checkpoints at once and progress once per interval (outcomes go separately,
        with the next claim: see take_outcomes)."""
        if self.checkpoints or (self.progress and now >= self.next_flush):
            self._flush_progress()
        if now >= self.next_flush:
            self.next_flush = time.monotonic() + self.interval  # the flush may have waited

    def flush(self) -> None:
        """Write everything, outcomes too (on the way out)."""
        self._flush_progress()
        if self.outcomes:
            outcomes = [o for _, o in self.outcomes]
            log_refused(self.outcomes, self.store.job_finish(self.worker_id, outcomes))
            self.outcomes = []

    def release(self, leases: list[Lease], progress: list[ProgressWrite] | None = None) -> None:
        """Put jobs back to pending without charging the attempt, their progress written first.
        Never raises StoreUnavailable: then the leases run out and the jobs are rescued."""
        try:
            if progress:
                self.store.job_write_progress(self.worker_id, progress)
            self.store.job_release(self.worker_id, leases, time.time())
        except StoreUnavailable as exc:
            log.warning(
                "could not put %d jobs back (%s); their leases will run out", len(leases), exc
            )

    def _flush_progress(self) -> None:
        if self.checkpoints:
            writes = [pending.write for pending in self.checkpoints]
            refused = set(self.store.job_write_progress(self.worker_id, writes))
            checkpoints, self.checkpoints = self.checkpoints, []
            for pending in checkpoints:
                if pending.write.lease.job_id in refused:
                    refuse_checkpoint(pending.write, pending.answer)
                else:
                    pending.answer(True)
        if self.progress:
            for job_id in self.store.job_write_progress(
                self.worker_id, list(self.progress.values())
            ):
                log.warning("job %s: progress write refused (lease lost)", job_id)
            self.progress = {}


class OutcomeWriter:
    """Writes the buffer's outcomes on a BackgroundCall (a thread of its own on PostgreSQL, so the
    loop goes on while the commit is flushed), with the claim that goes with them, if any. The
    loop waits on fileno() and then calls result()."""

    def __init__(self, store: Store, worker_id: str, writes: WriteBuffer) -> None:
        self.store = store
        self.worker_id = worker_id
        self.writes = writes
        self.background = BackgroundCall(threaded=store.writes_wait_on_server)
        # The outcomes being written, and the claim that goes with them.
        self.in_flight: tuple[list[tuple[str, Outcome]], ClaimRequest | None] = ([], None)

    @property
    def busy(self) -> bool:
        return self.background.busy

    def fileno(self) -> int:
        return self.background.fileno()

    def start(self, claim: ClaimRequest | None) -> None:
        batch = self.writes.take_outcomes()
        outcomes = [outcome for _, outcome in batch]
        store, worker_id = self.store, self.worker_id
        self.in_flight = (batch, claim)
        if claim is None:
            self.background.start(lambda: (store.job_finish(worker_id, outcomes), []))
        else:
            self.background.start(lambda: store.job_finish_and_claim(worker_id, outcomes, claim))

    def result(self) -> tuple[ClaimRequest | None, list[JobRecord]]:
        """The claim sent with the batch and the jobs it claimed. Raises StoreUnavailable if the
        write failed: the outcomes are back in the buffer for the next one."""
        batch, claim = self.in_flight
        self.in_flight = ([], None)
        try:
            refused, claimed = self.background.result()
        except StoreUnavailable:
            self.writes.give_back(batch)
            raise
        log_refused(batch, refused)
        return claim, claimed

    def close(self) -> None:
        self.background.close()


def refuse_checkpoint(write: ProgressWrite, answer: Callable[[bool], None]) -> None:
    log.warning("job %s: checkpoint refused (lease lost)", write.lease.job_id)
    answer(False)


def log_refused(outcomes: list[tuple[str, Outcome]], refused: list[str]) -> None:
    if refused:
        for label, outcome in outcomes:
            if outcome.lease.job_id in refused:
                log.warning("%s: outcome refused, the job was cancelled or taken over", label)
