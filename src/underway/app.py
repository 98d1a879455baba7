"""Underway: the task registry, the store, and dispatch/get/list/wait/cancel/retry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any, overload

from . import asyncapi, batches, codec, viewlinks
from .eager import run_eagerly
from .errors import ConfigurationError, JobNotFound, UnknownTask
from .ids import new_job_id
from .job import OUTPUT_LIMIT
from .model import FINISHED, JobRecord, NewJob, Status, status_document
from .settings import database_url as database_url_from
from .settings import eager_from_env
from .store import Store, open_store
from .tasks import Task, TaskOptions
from .validation import check_dispatch, check_text, checked_delay, checked_priority, text_problem

WAIT_POLL_SECONDS = 0.05
NO_WORKER_WARNING = "no worker is running"


class Underway:
    """A job system: tasks registered with @app.task, jobs kept in the database at database_url.

    database_url defaults to UNDERWAY_DATABASE_URL, else sqlite:///underway.db. A bad URL or an
    unwritable path raises ConfigurationError here; the schema is created on first use.
    secret_key signs view links (view_token); default UNDERWAY_SECRET_KEY.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        eager: bool | None = None,
        secret_key: str | bytes | None = None,
    ) -> None:
        self.use_database(database_url_from(database_url))
        self.eager = eager_from_env() if eager is None else eager
        self.secret_key = secret_key
        self.tasks: dict[str, Task] = {}
        self._lock = threading.Lock()

    def use_database(self, url: str) -> None:
        """Point this app (and so its tasks' dispatch) at another database."""
        self.database_url = url
        self.store: Store = open_store(url)

    # -- tasks ---------------------------------------------------------------------------------

    @overload
    def task(self, name: Callable[..., Any]) -> Task: ...

    @overload
    def task(
        self,
        name: str | None = None,
        *,
        queue: str = "default",
        timeout: float | None = None,
        tries: int = 1,
        backoff: float = 1.0,
        priority: int = 0,
    ) -> Callable[[Callable[..., Any]], Task]: ...

    def task(
        self,
        name: str | Callable[..., Any] | None = None,
        *,
        queue: str = "default",
        timeout: float | None = None,
        tries: int = 1,
        backoff: float = 1.0,
        priority: int = 0,
    ) -> Task | Callable[[Callable[..., Any]], Task]:
        """Register a def or async def function as a task (usable bare or with options)."""
        options = TaskOptions(queue, timeout, tries, backoff, priority)
        if callable(name):
            return self._register(name, None, options)
        return lambda fn: self._register(fn, name, options)

    def _register(self, fn: Callable[..., Any], name: str | None, options: TaskOptions) -> Task:
        task_name = name or f"{fn.__module__}.{fn.__qualname__}"
        with self._lock:
            existing = self.tasks.get(task_name)
            if existing is not None and existing.fn is not fn:
                raise ValueError(
                    f"a different function is already registered as task {task_name!r}"
                )
            task = Task(self, fn, task_name, options)
            self.tasks[task_name] = task
        return task

    def _task(self, task_or_name: Task | str) -> Task:
        if isinstance(task_or_name, Task):
            return task_or_name
        task = self.tasks.get(task_or_name)
        if task is None:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise UnknownTask(f"no task named {task_or_name!r} is registered (known: {known})")
        return task

    # -- dispatch ------------------------------------------------------------------------------

    def dispatch(
        self,
        task_or_name: Task | str,
        kwargs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        delay: float | None = None,
        owner: str | None = None,
        unique_key: str | None = None,
        connection: Any = None,
    ) -> str:
        """Queue a job and return its id. kwargs must be JSON; anything else is a TypeError.

        unique_key: while a job with this key is pending or processing, return its id instead
        of queueing another. connection: your own open connection to the same database; the
        job is inserted inside your transaction and exists only if you commit it."""
        task = self._task(task_or_name)
        kwargs = {} if kwargs is None else kwargs
        [job] = self._new_jobs(task, [kwargs], queue, priority, delay, owner, unique_key)
        job_id = self.store.job_enqueue(job, connection)
        if self.eager and job_id == job.id and connection is None:
            run_eagerly(self.store, task, job_id)
        return job_id

    def dispatch_many(
        self,
        task_or_name: Task | str,
        kwargs_list: Iterable[dict[str, Any]],
        *,
        queue: str | None = None,
        priority: int | None = None,
        delay: float | None = None,
        owner: str | None = None,
    ) -> list[str]:
        """Queue one job per kwargs in one transaction; return their ids in order. Much faster
        than dispatch() in a loop. Unique keys are not taken here: use dispatch() for those."""
        task = self._task(task_or_name)
        jobs = self._new_jobs(task, kwargs_list, queue, priority, delay, owner, None)
        ids = self.store.job_enqueue_many(jobs)
        if self.eager:
            for job_id in ids:
                run_eagerly(self.store, task, job_id)
        return ids

    def _new_jobs(
        self,
        task: Task,
        kwargs_list: Iterable[dict[str, Any]],
        queue: str | None,
        priority: int | None,
        delay: float | None,
        owner: str | None,
        unique_key: str | None,
    ) -> list[NewJob]:
        # One loop here rather than a call per job: dispatch_many makes thousands at a time.
        # Options are the same for every job of a call: checked once, before the loop.
        name, options = task.name, task.options
        queue = queue or options.queue
        check_dispatch(name, queue, owner, unique_key)
        priority = checked_priority(options.priority if priority is None else priority)
        delay = checked_delay(delay)
        jobs = []
        for kwargs in kwargs_list:
            encoded = codec.check_arguments(name, kwargs)
            now = time.time()
            jobs.append(
                NewJob(
                    id=new_job_id(),
                    task=name,
                    queue=queue,
                    args=kwargs,
                    priority=priority,
                    max_attempts=options.tries,
                    timeout=options.timeout,
                    backoff=options.backoff,
                    created_at=now,
                    available_at=now + delay,
                    owner=owner,
                    unique_key=unique_key,
                    args_json=encoded,
                )
            )
        return jobs

    # -- reading and operating -----------------------------------------------------------------

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's status document, or None. A pending job's document carries a "warning"
        when no worker is alive, so nobody waits for a job that cannot start."""
        if not _could_exist(job_id):
            return None
        record = self.store.job_get(job_id)
        return None if record is None else self.document_of(record)

    def document_of(self, record: JobRecord) -> dict[str, Any]:
        """The status document of a record read from this app's store, as get() gives it."""
        document = status_document(record)
        if record.status == Status.PENDING and not self.eager and not self.workers_alive():
            document["warning"] = NO_WORKER_WARNING
        return document

    def workers_alive(self) -> int:
        return len(self.store.worker_list(time.time()))

    def list(
        self,
        status: str | Status | None = None,
        task: str | None = None,
        queue: str | None = None,
        owner: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Status documents newest first (without results and errors), and the cursor of the
        next page (None on the last one)."""
        if not 1 <= limit <= 1000:
            raise ValueError(f"limit must be between 1 and 1000, got {limit}")
        for field, value in (("task", task), ("queue", queue), ("owner", owner)):
            check_text(field, value)
        check_text("cursor", cursor)
        page = self.store.job_list(
            status=Status(status) if status else None,
            task=task,
            queue=queue,
            owner=owner,
            limit=limit,
            cursor=cursor,
        )
        return [status_document(job) for job in page.jobs], page.next_cursor

    def wait(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the job is completed, failed or cancelled; return its status document.
        Raises JobNotFound, or TimeoutError when timeout seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            document = self.get(job_id)
            if document is None:
                raise JobNotFound(f"no job with id {job_id}")
            if Status(document["status"]) in FINISHED:
                return document
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {document['status']} after {timeout} s")
            time.sleep(delay)
            delay = min(WAIT_POLL_SECONDS, delay * 2)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a pending job (it never runs) or a processing one (its worker stops it)."""
        _must_exist(job_id)
        return status_document(self.store.job_cancel(job_id, time.time()))

    def retry(self, job_id: str) -> dict[str, Any]:
        """Queue a failed or cancelled job again, resuming from its checkpoint."""
        _must_exist(job_id)
        return status_document(self.store.job_retry(job_id, time.time()))

    def view_token(self, job_id: str, ttl: float = viewlinks.DEFAULT_TTL_SECONDS) -> str:
        """A token that lets whoever holds it read this one job for ttl seconds, and nothing
        else: GET /api/jobs/{job_id}?view=TOKEN and its event stream. For e-mails and pages
        without a session. Signed with secret_key, else UNDERWAY_SECRET_KEY: the server must
        have the same key. No key: ConfigurationError."""
        key = viewlinks.secret_key(self.secret_key)
        if key is None:
            raise ConfigurationError(
                f"view links are signed with a secret key: set {viewlinks.ENV_SECRET_KEY} "
                "(the same in the web server) or pass Underway(secret_key=...)"
            )
        return viewlinks.sign(key, job_id, ttl)

    def output(self, job_id: str, offset: int = 0, limit: int = OUTPUT_LIMIT) -> str:
        """The job's live output (job.stream) from character offset, at most limit characters
        ("" past the end). Raises JobNotFound; ValueError for a negative offset or limit."""
        if offset < 0 or limit < 0:
            raise ValueError(f"offset and limit must not be negative, got {offset} and {limit}")
        found = self.store.job_output(job_id, offset, limit) if _could_exist(job_id) else None
        if found is None:
            raise JobNotFound(f"no job with id {job_id}")
        return found[0]

    def delete(self, job_id: str) -> bool:
        return _could_exist(job_id) and self.store.job_delete(job_id)

    def prune(self, older_than: float) -> int:
        """Delete jobs that finished more than older_than seconds ago."""
        return self.store.job_prune(time.time() - older_than)

    def stats(self) -> dict[str, Any]:
        """Counts per queue and status, jobs finished in the last minute, workers alive."""
        stats = self.store.stats(time.time())
        return {
            "queues": stats.counts,
            "completed_last_minute": stats.completed_last_minute,
            "failed_last_minute": stats.failed_last_minute,
            "workers": [asdict(worker) for worker in stats.workers],
        }

    # -- batches: many jobs followed as one (batches.py) ----------------------------------------

    batch = batches.batch
    get_batch = batches.get_batch
    cancel_batch = batches.cancel_batch
    retry_batch = batches.retry_batch
    add_to_batch = batches.add_to_batch

    # -- the same, awaitable (asyncapi.py) ------------------------------------------------------

    dispatch_async = asyncapi.dispatch_async
    get_async = asyncapi.get_async
    wait_async = asyncapi.wait_async
    watch = asyncapi.watch

    def __repr__(self) -> str:
        return f"<Underway {self.database_url} tasks={len(self.tasks)}>"


def _could_exist(job_id: str) -> bool:
    """False for an id no backend could hold (a NUL, a lone surrogate): PostgreSQL would refuse
    even to look it up."""
    return isinstance(job_id, str) and text_problem(job_id) is None


def _must_exist(job_id: str) -> None:
    if not _could_exist(job_id):
        raise JobNotFound(f"no job with id {job_id!r}")
