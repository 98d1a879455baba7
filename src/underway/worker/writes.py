"""What the supervisor has to write: progress, checkpoints and outcomes, flushed in batches.

Owned by the supervisor's thread. A batch is dropped only once the store took it, so an outage
(StoreUnavailable) loses nothing: the same writes go out again on the next flush.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import StoreUnavailable
from ..model import Lease, Outcome, ProgressWrite, merge_progress
from ..store.base import Store

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
        self.progress: dict[str, ProgressWrite] = {}
        self.checkpoints: list[PendingCheckpoint] = []
        self.outcomes: list[tuple[str, Outcome]] = []

    def add_progress(self, write: ProgressWrite) -> None:
        job_id = write.lease.job_id
        self.progress[job_id] = merge_progress(self.progress.get(job_id), write)

    def take_progress(self, job_id: str) -> ProgressWrite | None:
        return self.progress.pop(job_id, None)

    def add_checkpoint(self, write: ProgressWrite, answer: Callable[[bool], None]) -> None:
        merged = merge_progress(self.take_progress(write.lease.job_id), write)
        self.checkpoints.append(PendingCheckpoint(merged, answer))

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
            self.next_flush = now + self.interval

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
                stored = pending.write.lease.job_id not in refused
                if not stored:
                    log.warning(
                        "job %s: checkpoint refused (lease lost)", pending.write.lease.job_id
                    )
                pending.answer(stored)
        if self.progress:
            for job_id in self.store.job_write_progress(
                self.worker_id, list(self.progress.values())
            ):
                log.warning("job %s: progress write refused (lease lost)", job_id)
            self.progress = {}


def log_refused(outcomes: list[tuple[str, Outcome]], refused: list[str]) -> None:
    if refused:
        for label, outcome in outcomes:
            if outcome.lease.job_id in refused:
                log.warning("%s: outcome refused, the job was cancelled or taken over", label)
