-- Attempts: a worker claims jobs, writes their progress, and finishes or releases them.

-- name: job_claim_any
-- INDEXED BY: without statistics the planner prefers underway_jobs_status and sorts every
-- ready job on each claim; the partial index walks them in claim order and stops at the limit.
UPDATE underway_jobs
SET status = 'processing', attempts = attempts + 1, worker_id = :worker_id,
    lease_expires_at = :lease_expires_at, started_at = :now,
    max_attempts = max(max_attempts, :min_tries)
WHERE id IN (
    SELECT id FROM underway_jobs INDEXED BY underway_jobs_ready
    WHERE status = 'pending' AND available_at <= :now
    ORDER BY priority DESC, id
    LIMIT :limit
)
RETURNING *;

-- name: job_claim_queue
UPDATE underway_jobs
SET status = 'processing', attempts = attempts + 1, worker_id = :worker_id,
    lease_expires_at = :lease_expires_at, started_at = :now,
    max_attempts = max(max_attempts, :min_tries)
WHERE id IN (
    SELECT id FROM underway_jobs INDEXED BY underway_jobs_ready_queue
    WHERE status = 'pending' AND queue = :queue AND available_at <= :now
    ORDER BY priority DESC, id
    LIMIT :limit
)
RETURNING *;

-- name: job_claim_id
UPDATE underway_jobs
SET status = 'processing', attempts = attempts + 1, worker_id = :worker_id,
    lease_expires_at = :lease_expires_at, started_at = :now
WHERE id = :id AND status = 'pending'
RETURNING *;

-- name: job_progress_update
UPDATE underway_jobs
SET progress_total = :total, progress_processed = :processed, progress_current = :current,
    usage = :usage, checkpoint = CASE WHEN :has_checkpoint THEN :checkpoint ELSE checkpoint END,
    progress_rate = :rate, output_length = output_length + :output_n
WHERE id = :id AND attempts = :attempt AND worker_id = :worker_id AND status = 'processing';

-- name: job_held
-- Does this attempt still hold its job? (The fence of job_finish, checked before its entries.)
SELECT 1 FROM underway_jobs
WHERE id = :id AND attempts = :attempt AND worker_id = :worker_id AND status = 'processing';

-- name: entry_insert
INSERT INTO underway_job_entries (job_id, kind, body) VALUES (:job_id, :kind, :body);

-- name: output_insert
-- One chunk of a write's output, once the write's fenced update has added its length: the
-- chunk starts :written characters before the new end, plus its :position within the write.
INSERT INTO underway_job_output (job_id, start_offset, body)
SELECT id, output_length - :written + :position, :body FROM underway_jobs WHERE id = :job_id;

-- name: job_finish
UPDATE underway_jobs
SET status = :status, result = :result, error = :error, traceback = :traceback,
    available_at = COALESCE(:retry_at, available_at), completed_at = :completed_at,
    lease_expires_at = NULL,
    progress_total = CASE WHEN :has_progress THEN :total ELSE progress_total END,
    progress_processed = CASE WHEN :has_progress THEN :processed ELSE progress_processed END,
    progress_current = CASE WHEN :has_progress THEN :current ELSE progress_current END,
    usage = CASE WHEN :has_progress THEN :usage ELSE usage END,
    checkpoint = CASE WHEN :has_checkpoint THEN :checkpoint ELSE checkpoint END,
    progress_rate = CASE WHEN :has_progress THEN :rate ELSE progress_rate END,
    output_length = output_length + :output_n
WHERE id = :id AND attempts = :attempt AND worker_id = :worker_id AND status = 'processing';

-- name: job_release
UPDATE underway_jobs
SET status = 'pending', attempts = attempts - 1, lease_expires_at = NULL, available_at = :now
WHERE id = :id AND attempts = :attempt AND worker_id = :worker_id AND status = 'processing';
