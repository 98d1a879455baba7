-- Jobs: dispatch, reads, and the operator's actions (cancel, retry, delete, prune).

-- name: job_insert
INSERT INTO underway_jobs (
    id, task, queue, status, priority, owner, unique_key, args, tries, max_attempts, timeout,
    backoff, created_at, available_at
) VALUES (
    :id, :task, :queue, 'pending', :priority, :owner, :unique_key, :args, :tries, :tries,
    :timeout, :backoff, :created_at, :available_at
)
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing')
DO NOTHING;

-- name: jobs_insert_many
-- Jobs without unique keys. The row after VALUES is repeated once per job: a statement that
-- inserts many rows opens the table and each of its indexes once, not once per row.
INSERT INTO underway_jobs (
    id, task, queue, status, priority, owner, args, tries, max_attempts, timeout, backoff,
    created_at, available_at
) VALUES
(?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: job_active_by_unique_key
SELECT id FROM underway_jobs WHERE unique_key = :unique_key AND status IN ('pending', 'processing');

-- name: job_get
SELECT * FROM underway_jobs WHERE id = :id;

-- name: job_entries
SELECT kind, body FROM underway_job_entries WHERE job_id = :id ORDER BY seq;

-- name: job_list
SELECT * FROM underway_jobs
WHERE (:status IS NULL OR status = :status)
  AND (:task IS NULL OR task = :task)
  AND (:queue IS NULL OR queue = :queue)
  AND (:owner IS NULL OR owner = :owner)
  AND (:cursor IS NULL OR id < :cursor)
ORDER BY id DESC
LIMIT :limit;

-- name: job_cancel
UPDATE underway_jobs
SET status = 'cancelled', completed_at = :now, lease_expires_at = NULL
WHERE id = :id AND status IN ('pending', 'processing');

-- name: job_retry
UPDATE underway_jobs
SET status = 'pending', max_attempts = attempts + tries, available_at = :now,
    completed_at = NULL, result = NULL, error = NULL, traceback = NULL
WHERE id = :id AND status IN ('failed', 'cancelled');

-- name: job_delete
DELETE FROM underway_jobs WHERE id = :id AND status != 'processing';

-- name: entries_delete
DELETE FROM underway_job_entries WHERE job_id = :id;

-- name: output_delete
DELETE FROM underway_job_output WHERE job_id = :id;

-- name: jobs_prune_entries
DELETE FROM underway_job_entries
WHERE job_id IN (SELECT id FROM underway_jobs WHERE completed_at < :before);

-- name: jobs_prune_output
DELETE FROM underway_job_output
WHERE job_id IN (
    SELECT id FROM underway_jobs WHERE completed_at < :before AND output_length > 0
);

-- name: jobs_prune
DELETE FROM underway_jobs WHERE completed_at < :before;
