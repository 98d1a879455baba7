-- Workers and their leases: heartbeats, lease renewal and the rescue of expired leases.
-- {schema} is replaced by the quoted schema name (psycopg.sql.Identifier) and {channel} by
-- the quoted notification channel; %(name)s are query parameters. Times are double precision
-- seconds since the epoch, exactly as the model holds them.

-- name: job_renew_leases
UPDATE {schema}.jobs AS j SET lease_expires_at = %(lease_expires_at)s
FROM unnest(%(ids)s::text[], %(attempts)s::integer[]) AS held (id, attempt)
WHERE j.id = held.id AND j.attempts = held.attempt AND j.worker_id = %(worker_id)s
  AND j.status = 'processing'
RETURNING j.id;

-- name: worker_upsert
INSERT INTO {schema}.workers (
    id, hostname, pid, queues, processes, concurrency, started_at, last_seen_at, lease_seconds,
    running
) VALUES (
    %(id)s, %(hostname)s, %(pid)s, %(queues)s::text[], %(processes)s, %(concurrency)s,
    %(started_at)s, %(last_seen_at)s, %(lease_seconds)s, %(running)s
)
ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at, running = excluded.running;

-- name: worker_delete
DELETE FROM {schema}.workers WHERE id = %(id)s;

-- name: workers_alive
SELECT * FROM {schema}.workers WHERE last_seen_at + lease_seconds >= %(now)s ORDER BY started_at;

-- name: workers_forget_stale
DELETE FROM {schema}.workers WHERE last_seen_at < %(before)s;

-- name: lease_rescue
WITH expired AS (
    SELECT id FROM {schema}.jobs
    WHERE status = 'processing' AND lease_expires_at < %(now)s
    FOR UPDATE SKIP LOCKED
), rescued AS (
    UPDATE {schema}.jobs AS j
    SET status = CASE WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'pending' END,
        completed_at = CASE WHEN j.attempts >= j.max_attempts THEN %(now)s END,
        error = 'WorkerLost: the worker stopped renewing its lease',
        lease_expires_at = NULL, available_at = %(now)s
    FROM expired
    WHERE j.id = expired.id
    RETURNING j.id, j.attempts, j.status
), noted AS (
    INSERT INTO {schema}.job_entries (job_id, kind, body)
    SELECT id, 'error',
           to_jsonb('attempt ' || attempts || ': WorkerLost: the worker stopped renewing its lease')
    FROM rescued
)
SELECT id, status, CASE WHEN status = 'pending' THEN pg_notify(%(channel)s, '') END AS notified
FROM rescued;
