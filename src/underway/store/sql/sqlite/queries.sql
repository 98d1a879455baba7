-- name: schema_v1
CREATE TABLE underway_jobs (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    queue TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    priority INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    unique_key TEXT,
    args TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    tries INTEGER NOT NULL CHECK (tries >= 1),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    timeout REAL,
    backoff REAL NOT NULL,
    created_at REAL NOT NULL,
    available_at REAL NOT NULL,
    started_at REAL,
    completed_at REAL,
    worker_id TEXT,
    lease_expires_at REAL,
    progress_total INTEGER,
    progress_processed INTEGER NOT NULL DEFAULT 0,
    progress_current TEXT,
    usage TEXT,
    checkpoint TEXT,
    result TEXT,
    error TEXT,
    traceback TEXT,
    CHECK ((status = 'processing') = (lease_expires_at IS NOT NULL)),
    CHECK ((status IN ('completed', 'failed', 'cancelled')) = (completed_at IS NOT NULL))
);
CREATE INDEX underway_jobs_ready ON underway_jobs (priority DESC, id) WHERE status = 'pending';
CREATE INDEX underway_jobs_ready_queue ON underway_jobs (queue, priority DESC, id)
    WHERE status = 'pending';
CREATE INDEX underway_jobs_leases ON underway_jobs (lease_expires_at) WHERE status = 'processing';
CREATE INDEX underway_jobs_held ON underway_jobs (worker_id) WHERE status = 'processing';
CREATE UNIQUE INDEX underway_jobs_unique_active ON underway_jobs (unique_key)
    WHERE status IN ('pending', 'processing');
CREATE INDEX underway_jobs_finished ON underway_jobs (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX underway_jobs_status ON underway_jobs (status, id);
CREATE INDEX underway_jobs_owner ON underway_jobs (owner, id) WHERE owner IS NOT NULL;
CREATE TABLE underway_job_entries (
    seq INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('result', 'error')),
    body TEXT NOT NULL
);
CREATE INDEX underway_job_entries_job ON underway_job_entries (job_id, seq);
CREATE TABLE underway_workers (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queues TEXT NOT NULL,
    processes INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    started_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    lease_seconds REAL NOT NULL,
    running INTEGER NOT NULL DEFAULT 0
);

-- name: schema_v2
-- Every index a job row is in costs each dispatch, claim and finish a b-tree write: drop the
-- ones no query needs (leases and finished-time indexes serve rescue and stats), and keep jobs
-- without a unique key out of the unique index.
DROP INDEX underway_jobs_held;
DROP INDEX underway_jobs_status;
DROP INDEX underway_jobs_unique_active;
CREATE UNIQUE INDEX underway_jobs_unique_active ON underway_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing');

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

-- name: job_renew_lease
UPDATE underway_jobs SET lease_expires_at = :lease_expires_at
WHERE id = :id AND attempts = :attempt AND worker_id = :worker_id AND status = 'processing';

-- name: worker_upsert
INSERT INTO underway_workers (
    id, hostname, pid, queues, processes, concurrency, started_at, last_seen_at, lease_seconds,
    running
) VALUES (
    :id, :hostname, :pid, :queues, :processes, :concurrency, :started_at, :last_seen_at,
    :lease_seconds, :running
)
ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at, running = excluded.running;

-- name: worker_delete
DELETE FROM underway_workers WHERE id = :id;

-- name: workers_alive
SELECT * FROM underway_workers WHERE last_seen_at + lease_seconds >= :now ORDER BY started_at;

-- name: workers_forget_stale
DELETE FROM underway_workers WHERE last_seen_at < :before;

-- name: job_progress_update
UPDATE underway_jobs
SET progress_total = :total, progress_processed = :processed, progress_current = :current,
    usage = :usage, checkpoint = CASE WHEN :has_checkpoint THEN :checkpoint ELSE checkpoint END
WHERE id = :id AND attempts = :attempt AND worker_id = :worker_id AND status = 'processing';

-- name: entry_insert
INSERT INTO underway_job_entries (job_id, kind, body) VALUES (:job_id, :kind, :body);

-- name: job_finish
UPDATE underway_jobs
SET status = :status, result = :result, error = :error, traceback = :traceback,
    available_at = COALESCE(:retry_at, available_at), completed_at = :completed_at,
    lease_expires_at = NULL,
    progress_total = CASE WHEN :has_progress THEN :total ELSE progress_total END,
    progress_processed = CASE WHEN :has_progress THEN :processed ELSE progress_processed END,
    progress_current = CASE WHEN :has_progress THEN :current ELSE progress_current END,
    usage = CASE WHEN :has_progress THEN :usage ELSE usage END,
    checkpoint = CASE WHEN :has_checkpoint THEN :checkpoint ELSE checkpoint END
WHERE id = :id AND attempts = :attempt AND worker_id = :worker_id AND status = 'processing';

-- name: job_release
UPDATE underway_jobs
SET status = 'pending', attempts = attempts - 1, lease_expires_at = NULL, available_at = :now
WHERE id = :id AND attempts = :attempt AND worker_id = :worker_id AND status = 'processing';

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

-- name: jobs_prune_entries
DELETE FROM underway_job_entries
WHERE job_id IN (SELECT id FROM underway_jobs WHERE completed_at < :before);

-- name: jobs_prune
DELETE FROM underway_jobs WHERE completed_at < :before;

-- name: lease_rescue
UPDATE underway_jobs
SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
    completed_at = CASE WHEN attempts >= max_attempts THEN :now END,
    error = 'WorkerLost: the worker stopped renewing its lease',
    lease_expires_at = NULL, available_at = :now
WHERE status = 'processing' AND lease_expires_at < :now
RETURNING id, attempts, status;

-- name: stats_counts
SELECT queue, status, count(*) AS n FROM underway_jobs GROUP BY queue, status;

-- name: stats_finished_since
SELECT status, count(*) AS n FROM underway_jobs
WHERE completed_at >= :since AND status IN ('completed', 'failed')
GROUP BY status;

-- name: job_list
SELECT * FROM underway_jobs
WHERE (:status IS NULL OR status = :status)
  AND (:task IS NULL OR task = :task)
  AND (:queue IS NULL OR queue = :queue)
  AND (:owner IS NULL OR owner = :owner)
  AND (:cursor IS NULL OR id < :cursor)
ORDER BY id DESC
LIMIT :limit;
