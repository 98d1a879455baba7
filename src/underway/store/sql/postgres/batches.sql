-- Batches: create and add children, read counters and pages, settle callbacks, cancel, retry.
-- The counters are kept by the triggers of migrations/004_batches.sql.
-- {schema} is replaced by the quoted schema name (psycopg.sql.Identifier) and {channel} by
-- the quoted notification channel; %(name)s are query parameters. Times are double precision
-- seconds since the epoch, exactly as the model holds them.

-- name: batch_insert
INSERT INTO {schema}.batches (
    id, name, task, owner, queue, priority, chunk_size, allow_failures, on_success, on_failure,
    on_complete, callback_options, created_at
) VALUES (
    %(id)s, %(name)s, %(task)s, %(owner)s, %(queue)s, %(priority)s, %(chunk_size)s,
    %(allow_failures)s,
    %(on_success)s, %(on_failure)s, %(on_complete)s, %(callback_options)s::jsonb,
    %(created_at)s
);

-- name: batch_children_insert
COPY {schema}.jobs (
    id, task, queue, status, priority, owner, args, tries, max_attempts, timeout, backoff,
    created_at, available_at, batch_id
) FROM STDIN;

-- name: batch_notify
-- In the transaction that made children or callbacks pending: delivered when, and only if, it
-- commits.
SELECT pg_notify(%(channel)s, '');

-- name: batch_open
-- A call adding children counts itself in building, so that the batch does not end meanwhile.
UPDATE {schema}.batches SET building = building + 1
WHERE id = %(id)s AND completed_at IS NULL AND cancelled_at IS NULL
RETURNING id;

-- name: batch_stopped
-- Is the batch cancelled, or stopped by a failure in this run (allow_failures off)? Then a
-- call adding children adds no more.
SELECT cancelled_at IS NOT NULL OR (allow_failures = 0 AND failure_run = runs) AS stopped
FROM {schema}.batches WHERE id = %(id)s;

-- name: batch_writing
-- This transaction writes children of the batch and counts them itself (batch_written).
SELECT set_config('underway.batch_writing', %(id)s, true);

-- name: batch_written
-- The children this transaction wrote, counted, and (built: -1) the end of the call's
-- building: folded at once, in one change of the row (see the migration).
SELECT {schema}.batch_fold_now(%(id)s, jsonb_build_object(
    'jobs_total', %(jobs)s::bigint, 'jobs_pending', %(jobs)s::bigint,
    'items_total', %(items)s::bigint, 'building', %(built)s::integer
));

-- name: batch_fold_now
-- Lock the batch's row and fold into it what this transaction changed so far, and what others
-- left: before an operator's change to the row, and before settling reads it.
SELECT {schema}.batch_fold_now(%(id)s, NULL) AS found;

-- name: batch_get
-- With the sums not folded yet (the migration's batch_counted).
SELECT (c).* FROM (
    SELECT {schema}.batch_counted(b) AS c FROM {schema}.batches AS b WHERE b.id = %(id)s
) AS counted;

-- name: batch_locked
-- The row as it is, after batch_fold_now (which locked it).
SELECT * FROM {schema}.batches WHERE id = %(id)s;

-- name: batch_fold_waiting
-- The deltas left by transactions that found their batch's row busy (see the migration).
SELECT {schema}.batch_fold_waiting(%(limit)s) AS folded;

-- name: batch_read_in_order
-- For batch_results, whatever the statistics say: walk the indexes in their order rather than
-- collect and sort every result of the batch.
SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true);

-- name: batch_results
-- Children that have started once, in id order (jobs_batch_started: a child that never ran has
-- no results, and leaving it out keeps a page of a batch that has barely started from being a
-- walk over all its children), each child's results in seq order (the entries' index): a
-- nested loop that stops once offset + limit results are read. OFFSET 0 keeps each side a
-- subquery of its own, so that the planner cannot merge, hash and sort them.
SELECT e.body
FROM (
    SELECT id FROM {schema}.jobs
    WHERE batch_id = %(id)s AND started_at IS NOT NULL
    ORDER BY id
    OFFSET 0
) AS j
CROSS JOIN LATERAL (
    SELECT x.body FROM {schema}.job_entries AS x
    WHERE x.job_id = j.id AND x.kind = 'result'
    ORDER BY x.seq
    OFFSET 0
) AS e
LIMIT %(limit)s OFFSET %(offset)s;

-- name: batch_errors
SELECT id, error, args FROM {schema}.jobs
WHERE batch_id = %(id)s AND status = 'failed'
ORDER BY id
LIMIT %(limit)s;

-- name: batch_due
SELECT * FROM {schema}.batches WHERE callbacks_due = 1 OR failure_due = 1 LIMIT %(limit)s;

-- name: batch_children_cancel
-- Children first, the batch's row after (its counters at commit): see the migration's lock
-- order. %(failing)s: only while the batch still has a failure to settle.
UPDATE {schema}.jobs
SET status = 'cancelled', completed_at = %(now)s, lease_expires_at = NULL
WHERE batch_id = %(id)s AND status IN ('pending', 'processing')
  AND (NOT %(failing)s OR EXISTS (
      SELECT 1 FROM {schema}.batches WHERE id = %(id)s AND failure_due = 1
  ))
RETURNING id;

-- name: batch_settled
UPDATE {schema}.batches
SET callbacks_due = 0, failure_due = 0, success_called = %(success_called)s
WHERE id = %(id)s AND (callbacks_due = 1 OR failure_due = 1);

-- name: batch_cancel
UPDATE {schema}.batches SET cancelled_at = %(now)s, building = 0
WHERE id = %(id)s AND cancelled_at IS NULL;

-- name: batch_children_retry
UPDATE {schema}.jobs
SET status = 'pending', max_attempts = attempts + tries, available_at = %(now)s,
    completed_at = NULL, result = NULL, error = NULL, traceback = NULL
WHERE batch_id = %(id)s AND status IN ('failed', 'cancelled')
RETURNING id;

-- name: batch_resume
UPDATE {schema}.batches SET cancelled_at = NULL WHERE id = %(id)s;
