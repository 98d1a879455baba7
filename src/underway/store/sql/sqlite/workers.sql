-- Workers and their leases: heartbeats, lease renewal and the rescue of expired leases.

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

-- name: lease_rescue
UPDATE underway_jobs
SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
    completed_at = CASE WHEN attempts >= max_attempts THEN :now END,
    error = 'WorkerLost: the worker stopped renewing its lease',
    lease_expires_at = NULL, available_at = :now
WHERE status = 'processing' AND lease_expires_at < :now
RETURNING id, attempts, status;
