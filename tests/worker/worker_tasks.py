"""Tasks the worker suite runs. conftest.py copies this file into each test's own folder, where
the real `underway worker --app worker_tasks:app` imports it; the test imports the same file to
dispatch with the same task options.

Side effects go to small files beside this module, one line per event, each line a single
O_APPEND write so that lines from concurrent processes never interleave.
"""

import asyncio
import multiprocessing
import os
import time

from underway import Job, Underway

app = Underway()
HERE = os.path.dirname(os.path.abspath(__file__))

# A worker's child processes (not its supervisor, nor the test) import this module slowly, or not
# at all, when the test asks it to through the environment: a child caught while starting.
if multiprocessing.parent_process() is not None:
    time.sleep(float(os.environ.get("WORKER_TASKS_CHILD_IMPORT_SLEEP", "0")))
    if os.environ.get("WORKER_TASKS_CHILD_IMPORT_FAILS"):
        raise RuntimeError("worker_tasks cannot be imported in a child (as the test asked)")
# Grown by `leak` so that its child process passes --memory.
LEAK: list[bytes] = []


def note(name: str, line: object) -> None:
    fd = os.open(os.path.join(HERE, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


@app.task("record")
def record(job: Job, file: str = "effects", label: str | None = None) -> int:
    """One line naming the job (or label) in `file`; returns the pid that ran it."""
    note(file, label or job.id)
    return os.getpid()


@app.task("resumable", timeout=3600, tries=2)
def resumable(job: Job, items: int, step: float) -> int:
    """Does items one by one from the last checkpoint, noting "attempt item" for each."""
    job.progress(total=items)
    for item in range(job.checkpoint or 0, items):
        note("items", f"{job.attempt} {item}")
        job.progress(processed=item + 1, current=f"item {item}")
        job.save_checkpoint(item + 1)
        time.sleep(step)
    return job.attempt


@app.task("long_job")
def long_job(job: Job, seconds: float) -> int:
    note("starts", f"{job.id} {job.attempt}")
    time.sleep(seconds)
    return job.attempt


@app.task("noted", tries=10, backoff=0.05)
def noted(job: Job, seconds: float, file: str = "runs") -> int:
    """Notes each start as "job attempt child-pid supervisor-pid time" in `file`, sleeps, then
    notes "job attempt" in `file`-ends."""
    note(file, f"{job.id} {job.attempt} {os.getpid()} {os.getppid()} {time.time():.3f}")
    time.sleep(seconds)
    note(f"{file}-ends", f"{job.id} {job.attempt}")
    return job.attempt


@app.task("fenced", tries=2)
def fenced(job: Job, steps: int, step: float) -> dict[str, int]:
    """Writes progress, a result and a checkpoint per step, so a zombie attempt has all three
    kinds of late write to make."""
    job.progress(total=steps)
    for i in range(job.checkpoint or 0, steps):
        time.sleep(step)
        job.progress(processed=i + 1, current=f"attempt {job.attempt} step {i}")
        job.add_result({"attempt": job.attempt, "step": i})
        job.save_checkpoint(i + 1)
    return {"attempt": job.attempt}


@app.task("sleepy", timeout=1)
def sleepy(seconds: float) -> None:
    """Child processes ignore SIGTERM and SIGINT, so only a kill stops this."""
    note("pids", f"sleepy {os.getpid()}")
    time.sleep(seconds)


@app.task("async_blocker", timeout=1)
async def async_blocker(seconds: float) -> None:
    note("pids", f"async_blocker {os.getpid()}")
    time.sleep(seconds)  # blocks the child's loop: cancelling cannot reach it


@app.task("async_awaiter", timeout=1)
async def async_awaiter(seconds: float) -> None:
    note("pids", f"async_awaiter {os.getpid()}")
    await asyncio.sleep(seconds)


@app.task("flaky", tries=3, backoff=0.05)
def flaky(job: Job) -> int:
    if job.attempt < 3:
        raise RuntimeError(f"failure number {job.attempt}")
    return job.attempt


@app.task("flaky_once", backoff=0.05)
def flaky_once(job: Job) -> int:
    """One try of its own: it completes only under a worker's --tries."""
    if job.attempt < 3:
        raise RuntimeError(f"failure number {job.attempt}")
    return job.attempt


@app.task("leak")
def leak(mb: int) -> int:
    LEAK.append(b"\x01" * (mb << 20))  # filled, so its pages count in the RSS
    return os.getpid()


@app.task("steady")
def steady(job: Job, seconds: float) -> int:
    note("started", job.id)
    time.sleep(seconds)
    note("finished", job.id)
    return job.attempt


@app.task("cancellable")
async def cancellable(job: Job) -> None:
    note("cancel", f"start {job.id} {os.getpid()}")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        note("cancel", f"stopped {job.id}")
        raise


@app.task("polite")
def polite(job: Job) -> str:
    note("cancel", f"start {job.id} {os.getpid()}")
    while not job.cancelled:
        time.sleep(0.02)
    note("cancel", f"stopped {job.id}")
    return "stopped"


@app.task("stubborn")
def stubborn(job: Job) -> None:
    note("cancel", f"start {job.id} {os.getpid()}")
    time.sleep(60)
    note("cancel", f"stopped {job.id}")


@app.task("chatty")
def chatty(job: Job, n: int, pause_every: int, pause: float) -> int:
    """n advance() calls over a second or so, as a real task's progress would come."""
    job.progress(total=n)
    for i in range(1, n + 1):
        job.advance(current=f"item {i}")
        if i % pause_every == 0:
            time.sleep(pause)
    return job.processed


@app.task("streamer")
def streamer(job: Job, lines: int, pause: float) -> int:
    """Streams a line per item, pausing after each; before the second half it waits for the
    file "go" beside this module, so that a test reads the output while the job runs."""
    job.progress(total=lines)
    for i in range(1, lines + 1):
        if i == lines // 2 + 1:
            while not os.path.exists(os.path.join(HERE, "go")):
                time.sleep(0.01)
        job.stream(f"line {i}: ✓ é 😀\n")
        job.advance(current=f"line {i}")
        time.sleep(pause)
    return job.output_length


@app.task("batch_items")
def batch_items(job: Job, items: list) -> int:
    """A batch's child: an int item is noted and succeeds; "fail" fails the child until the file
    "heal" exists beside this module; "crash" always fails it; "wait" waits to be cancelled."""
    for item in items:
        note("batch-items", f"{job.id} {item}")
        if item == "wait":
            deadline = time.monotonic() + 30
            while not job.cancelled and time.monotonic() < deadline:
                time.sleep(0.02)
            note("batch-items", f"{job.id} stopped")
            return 0
        if item == "crash" or (item == "fail" and not os.path.exists(os.path.join(HERE, "heal"))):
            raise RuntimeError(f"item {item} failed")
        job.add_result({"item": item, "success": True})
        job.add_usage(tokens=1)
        job.advance(current=str(item))
    return len(items)


@app.task("batch_called")
def batch_called(batch_id: str) -> None:
    note("batch-callbacks", f"complete {batch_id}")


@app.task("batch_succeeded")
def batch_succeeded(batch_id: str) -> None:
    note("batch-callbacks", f"success {batch_id}")


@app.task("batch_failed")
def batch_failed(batch_id: str) -> None:
    note("batch-callbacks", f"failure {batch_id}")
