-- Batches: create and add children, read counters and pages, settle callbacks, cancel, retry.
-- The counters are kept by the triggers of migrations/004_batches.sql.

-- name: batch_insert
INSERT INTO underway_batches (
    id, name, task, owner, queue, priority, chunk_size, allow_failures, on_success, on_failure,
    on_complete, callback_options, created_at
) VALUES (
    :id, :name, :task, :owner, :queue, :priority, :chunk_size, :allow_failures, :on_success, :on_failure,
    :on_complete, :callback_options, :created_at
);

-- name: batch_children_insert
-- The row after VALUES is repeated once per child, as for jobs_insert_many.
INSERT INTO underway_jobs (
    id, task, queue, status, priority, owner, args, tries, max_attempts, timeout, backoff,
    created_at, available_at, batch_id
) VALUES
(?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: batch_open
-- A call adding children counts itself in building, so that the batch does not end meanwhile.
UPDATE underway_batches SET building = building + 1
WHERE id = :id AND completed_at IS NULL AND cancelled_at IS NULL;

-- name: batch_stopped
-- Is the batch cancelled, or stopped by a failure in this run (allow_failures off)? Then a
-- call adding children adds no more.
SELECT cancelled_at IS NOT NULL OR (allow_failures = 0 AND failure_run = runs) AS stopped
FROM underway_batches WHERE id = :id;

-- name: batch_built
UPDATE underway_batches SET building = max(building - 1, 0) WHERE id = :id;

-- name: batch_get
SELECT * FROM underway_batches WHERE id = :id;

-- name: batch_results
-- Children that have started once, in id order, each one's results in order: a child that
-- never ran has none, and leaving it out keeps a page of a batch that has barely started from
-- being a walk over all its children.
SELECT e.body
FROM underway_jobs AS j INDEXED BY underway_jobs_batch_started
JOIN underway_job_entries AS e ON e.job_id = j.id
WHERE j.batch_id = :id AND j.started_at IS NOT NULL AND e.kind = 'result'
ORDER BY j.id, e.seq
LIMIT :limit OFFSET :offset;

-- name: batch_errors
SELECT id, error, args FROM underway_jobs INDEXED BY underway_jobs_batch_failed
WHERE batch_id = :id AND status = 'failed'
ORDER BY id
LIMIT :limit;

-- name: batch_due
SELECT * FROM underway_batches INDEXED BY underway_batches_due
WHERE callbacks_due = 1 OR failure_due = 1
LIMIT :limit;

-- name: batch_children_cancel
UPDATE underway_jobs
SET status = 'cancelled', completed_at = :now, lease_expires_at = NULL
WHERE batch_id = :id AND status IN ('pending', 'processing');

-- name: batch_settled
UPDATE underway_batches
SET callbacks_due = 0, failure_due = 0, success_called = :success_called
WHERE id = :id AND (callbacks_due = 1 OR failure_due = 1);

-- name: batch_cancel
UPDATE underway_batches SET cancelled_at = :now, building = 0
WHERE id = :id AND cancelled_at IS NULL;

-- name: batch_children_retry
UPDATE underway_jobs
SET status = 'pending', max_attempts = attempts + tries, available_at = :now,
    completed_at = NULL, result = NULL, error = NULL, traceback = NULL
WHERE batch_id = :id AND status IN ('failed', 'cancelled')
RETURNING id;

-- name: batch_resume
UPDATE underway_batches SET cancelled_at = NULL WHERE id = :id;
