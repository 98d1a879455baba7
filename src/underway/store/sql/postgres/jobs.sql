-- Jobs: dispatch, reads, and the operator's actions (cancel, retry, delete, prune).
-- {schema} is replaced by the quoted schema name (psycopg.sql.Identifier) and {channel} by
-- the quoted notification channel; %(name)s are query parameters. Times are double precision
-- seconds since the epoch, exactly as the model holds them.

-- name: job_insert
WITH inserted AS (
    INSERT INTO {schema}.jobs (
        id, task, queue, status, priority, owner, unique_key, args, tries, max_attempts,
        timeout, backoff, created_at, available_at
    ) VALUES (
        %(id)s, %(task)s, %(queue)s, 'pending', %(priority)s, %(owner)s, %(unique_key)s,
        %(args)s::jsonb, %(tries)s, %(tries)s, %(timeout)s, %(backoff)s, %(created_at)s,
        %(available_at)s
    )
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing')
    DO NOTHING
    RETURNING id
)
SELECT id, pg_notify(%(channel)s, '') AS notified FROM inserted;

-- name: jobs_insert_many
-- COPY: about twice as fast as one INSERT of a JSON array of the jobs, on the server and here.
COPY {schema}.jobs (
    id, task, queue, status, priority, owner, args, tries, max_attempts, timeout, backoff,
    created_at, available_at
) FROM STDIN;

-- name: jobs_insert_many_notify
-- In the COPY's transaction: delivered when, and only if, the jobs are committed.
SELECT pg_notify(%(channel)s, '');

-- name: job_active_by_unique_key
SELECT id FROM {schema}.jobs
WHERE unique_key = %(unique_key)s AND status IN ('pending', 'processing');

-- name: job_get
SELECT j.*,
       (SELECT jsonb_agg(e.body ORDER BY e.seq) FROM {schema}.job_entries AS e
        WHERE e.job_id = j.id AND e.kind = 'result') AS results,
       (SELECT jsonb_agg(e.body ORDER BY e.seq) FROM {schema}.job_entries AS e
        WHERE e.job_id = j.id AND e.kind = 'error') AS errors
FROM {schema}.jobs AS j
WHERE j.id = %(id)s;

-- name: job_list
SELECT * FROM {schema}.jobs
WHERE (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(owner)s::text IS NULL OR owner = %(owner)s::text)
  AND (%(cursor)s::text IS NULL OR id < %(cursor)s::text)
ORDER BY id DESC
LIMIT %(limit)s;

-- name: job_cancel
UPDATE {schema}.jobs
SET status = 'cancelled', completed_at = %(now)s, lease_expires_at = NULL
WHERE id = %(id)s AND status IN ('pending', 'processing')
RETURNING id, pg_notify(%(job_channel)s, id) AS watched;

-- name: job_retry
UPDATE {schema}.jobs
SET status = 'pending', max_attempts = attempts + tries, available_at = %(now)s,
    completed_at = NULL, result = NULL, error = NULL, traceback = NULL
WHERE id = %(id)s AND status IN ('failed', 'cancelled')
RETURNING id, pg_notify(%(channel)s, '') AS notified, pg_notify(%(job_channel)s, id) AS watched;

-- name: job_delete
DELETE FROM {schema}.jobs WHERE id = %(id)s AND status <> 'processing' RETURNING id;

-- name: jobs_prune
WITH doomed AS (
    SELECT id FROM {schema}.jobs
    WHERE completed_at < %(before)s
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM {schema}.jobs AS j USING doomed WHERE j.id = doomed.id;
