-- Attempts: a worker claims jobs, writes their progress, and finishes or releases them.
-- async_commit serves the heartbeat too (workers.py).
-- {schema} is replaced by the quoted schema name (psycopg.sql.Identifier) and {channel} by
-- the quoted notification channel; %(name)s are query parameters. Times are double precision
-- seconds since the epoch, exactly as the model holds them.

-- name: async_commit
SET LOCAL synchronous_commit = off;

-- name: claim_in_order
-- Without fresh statistics (autovacuum lagging a bulk dispatch, or off) the planner guesses a
-- handful of ready jobs and collects and sorts every one of them, dead index entries included;
-- walking the ready index in claim order stops at the limit whatever the statistics say.
SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true);

-- name: job_claim_any
WITH picked AS (
    SELECT id FROM {schema}.jobs
    WHERE status = 'pending' AND available_at <= %(now)s
    ORDER BY priority DESC, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE {schema}.jobs AS j
SET status = 'processing', attempts = j.attempts + 1, worker_id = %(worker_id)s,
    lease_expires_at = %(lease_expires_at)s, started_at = %(now)s,
    max_attempts = GREATEST(j.max_attempts, %(min_tries)s)
FROM picked
-- %(async_commit)s: a claim alone may commit without waiting for the WAL flush (see _claim).
CROSS JOIN (
    SELECT set_config(
        'synchronous_commit',
        CASE WHEN %(async_commit)s THEN 'off' ELSE current_setting('synchronous_commit') END,
        true
    )
) AS commit_mode
WHERE j.id = picked.id
RETURNING j.*;

-- name: job_claim_queue
WITH picked AS (
    SELECT id FROM {schema}.jobs
    WHERE status = 'pending' AND queue = %(queue)s AND available_at <= %(now)s
    ORDER BY priority DESC, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE {schema}.jobs AS j
SET status = 'processing', attempts = j.attempts + 1, worker_id = %(worker_id)s,
    lease_expires_at = %(lease_expires_at)s, started_at = %(now)s,
    max_attempts = GREATEST(j.max_attempts, %(min_tries)s)
FROM picked
-- %(async_commit)s: a claim alone may commit without waiting for the WAL flush (see _claim).
CROSS JOIN (
    SELECT set_config(
        'synchronous_commit',
        CASE WHEN %(async_commit)s THEN 'off' ELSE current_setting('synchronous_commit') END,
        true
    )
) AS commit_mode
WHERE j.id = picked.id
RETURNING j.*;

-- name: job_claim_id
UPDATE {schema}.jobs
SET status = 'processing', attempts = attempts + 1, worker_id = %(worker_id)s,
    lease_expires_at = %(lease_expires_at)s, started_at = %(now)s
WHERE id = %(id)s AND status = 'pending'
RETURNING *;

-- name: job_progress_update
WITH updated AS (
    UPDATE {schema}.jobs
    SET progress_total = %(total)s, progress_processed = %(processed)s,
        progress_current = %(current)s, usage = %(usage)s::jsonb,
        checkpoint = CASE WHEN %(has_checkpoint)s THEN %(checkpoint)s::jsonb ELSE checkpoint END,
        progress_rate = %(rate)s, output_length = output_length + %(output_n)s
    WHERE id = %(id)s AND attempts = %(attempt)s AND worker_id = %(worker_id)s
      AND status = 'processing'
    RETURNING id, output_length
), added AS (
    INSERT INTO {schema}.job_entries (job_id, kind, body)
    SELECT updated.id, e.entry ->> 'kind', e.entry -> 'body'
    FROM updated, jsonb_array_elements(%(entries)s::jsonb) WITH ORDINALITY AS e (entry, n)
    ORDER BY e.n
), streamed AS (
    -- The output's chunks (NULL: none), placed before the end the update just counted.
    INSERT INTO {schema}.job_output (job_id, start_offset, body)
    SELECT updated.id, updated.output_length - %(output_n)s + c.pos, c.body
    FROM updated, jsonb_to_recordset(%(output)s::jsonb) AS c (pos integer, body text)
    ORDER BY c.pos
)
SELECT id FROM updated;

-- name: job_finish
-- Every outcome of a batch in one statement (so one transaction and one round trip), each with
-- its last progress; the entries are the progress's new results and errors, then the error,
-- and the output chunks (NULL: none) are placed before the end the update counted.
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(outcomes)s::jsonb) AS x (
        n integer, id text, attempt integer, status text, result jsonb, error text,
        traceback text, retry_at double precision, completed_at double precision,
        has_progress boolean, total bigint, processed bigint, current text, usage jsonb,
        has_checkpoint boolean, checkpoint jsonb, entries jsonb, rate double precision,
        output_n integer, output jsonb
    )
), finished AS (
    UPDATE {schema}.jobs AS j
    SET status = x.status, result = x.result, error = x.error, traceback = x.traceback,
        available_at = COALESCE(x.retry_at, j.available_at), completed_at = x.completed_at,
        lease_expires_at = NULL,
        progress_total = CASE WHEN x.has_progress THEN x.total ELSE j.progress_total END,
        progress_processed =
            CASE WHEN x.has_progress THEN x.processed ELSE j.progress_processed END,
        progress_current = CASE WHEN x.has_progress THEN x.current ELSE j.progress_current END,
        usage = CASE WHEN x.has_progress THEN x.usage ELSE j.usage END,
        checkpoint = CASE WHEN x.has_checkpoint THEN x.checkpoint ELSE j.checkpoint END,
        progress_rate = CASE WHEN x.has_progress THEN x.rate ELSE j.progress_rate END,
        output_length = j.output_length + x.output_n
    FROM input AS x
    WHERE j.id = x.id AND j.attempts = x.attempt AND j.worker_id = %(worker_id)s
      AND j.status = 'processing'
    RETURNING j.id, j.status, j.output_length, x.n
), noted AS (
    INSERT INTO {schema}.job_entries (job_id, kind, body)
    SELECT f.id, e.entry ->> 'kind', e.entry -> 'body'
    FROM finished AS f
    JOIN input AS x ON x.n = f.n  -- by outcome, not job: a stale attempt's entries stay out
    CROSS JOIN LATERAL jsonb_array_elements(x.entries) WITH ORDINALITY AS e (entry, k)
    ORDER BY x.n, e.k
), streamed AS (
    INSERT INTO {schema}.job_output (job_id, start_offset, body)
    SELECT f.id, f.output_length - x.output_n + c.pos, c.body
    FROM finished AS f
    JOIN input AS x ON x.n = f.n
    CROSS JOIN LATERAL jsonb_to_recordset(x.output) AS c (pos integer, body text)
    ORDER BY x.n, c.pos
)
SELECT id, CASE WHEN status = 'pending' THEN pg_notify(%(channel)s, '') END AS notified
FROM finished;

-- name: job_release
UPDATE {schema}.jobs
SET status = 'pending', attempts = attempts - 1, lease_expires_at = NULL,
    available_at = %(now)s
WHERE id = %(id)s AND attempts = %(attempt)s AND worker_id = %(worker_id)s
  AND status = 'processing'
RETURNING id, pg_notify(%(channel)s, '') AS notified;
