-- PostgreSQL queries. {schema} is replaced by the quoted schema name (psycopg.sql.Identifier)
-- and {channel} by the quoted notification channel; %(name)s are query parameters.
-- Times are double precision seconds since the epoch, exactly as the model holds them.

-- name: schema_inspect
SELECT n.oid IS NOT NULL AS present,
       ARRAY(
           SELECT c.relname::text FROM pg_class AS c
           WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           ORDER BY c.relname
       ) AS tables
FROM (SELECT %(schema)s::name AS nspname) AS wanted
LEFT JOIN pg_namespace AS n ON n.nspname = wanted.nspname;

-- name: schema_version
SELECT max(version) AS version FROM {schema}.schema_migrations;

-- name: schema_lock
SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(schema)s));

-- name: schema_create
CREATE SCHEMA {schema};

-- name: schema_migrations_create
CREATE TABLE {schema}.schema_migrations (
    version integer PRIMARY KEY CHECK (version >= 1),
    applied_at double precision NOT NULL
);

-- name: schema_version_insert
INSERT INTO {schema}.schema_migrations (version, applied_at) VALUES (%(version)s, %(now)s);

-- name: schema_v1
CREATE TABLE {schema}.jobs (
    id text COLLATE "C" PRIMARY KEY,
    task text NOT NULL,
    queue text NOT NULL,
    status text NOT NULL
        CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    priority integer NOT NULL DEFAULT 0,
    owner text,
    unique_key text,
    args jsonb NOT NULL CHECK (jsonb_typeof(args) = 'object'),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    tries integer NOT NULL CHECK (tries >= 1),
    max_attempts integer NOT NULL CHECK (max_attempts >= 1),
    timeout double precision,
    backoff double precision NOT NULL,
    created_at double precision NOT NULL,
    available_at double precision NOT NULL,
    started_at double precision,
    completed_at double precision,
    worker_id text,
    lease_expires_at double precision,
    progress_total bigint,
    progress_processed bigint NOT NULL DEFAULT 0,
    progress_current text,
    usage jsonb,
    checkpoint jsonb,
    result jsonb,
    error text,
    traceback text,
    CONSTRAINT jobs_lease_iff_processing
        CHECK ((status = 'processing') = (lease_expires_at IS NOT NULL)),
    CONSTRAINT jobs_processing_has_worker
        CHECK (status <> 'processing' OR worker_id IS NOT NULL),
    CONSTRAINT jobs_finished_iff_completed_at
        CHECK ((status IN ('completed', 'failed', 'cancelled')) = (completed_at IS NOT NULL))
) WITH (fillfactor = 90);
CREATE INDEX jobs_ready ON {schema}.jobs (priority DESC, id) WHERE status = 'pending';
CREATE INDEX jobs_ready_queue ON {schema}.jobs (queue, priority DESC, id)
    WHERE status = 'pending';
CREATE INDEX jobs_leases ON {schema}.jobs (lease_expires_at) WHERE status = 'processing';
CREATE UNIQUE INDEX jobs_unique_active ON {schema}.jobs (unique_key)
    WHERE status IN ('pending', 'processing');
CREATE INDEX jobs_finished ON {schema}.jobs (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX jobs_status ON {schema}.jobs (status, id);
CREATE INDEX jobs_owner ON {schema}.jobs (owner, id) WHERE owner IS NOT NULL;
CREATE TABLE {schema}.job_entries (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id text COLLATE "C" NOT NULL REFERENCES {schema}.jobs (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('result', 'error')),
    body jsonb NOT NULL
);
CREATE INDEX job_entries_job ON {schema}.job_entries (job_id, seq);
CREATE TABLE {schema}.workers (
    id text PRIMARY KEY,
    hostname text NOT NULL,
    pid integer NOT NULL,
    queues text[] NOT NULL,
    processes integer NOT NULL,
    concurrency integer NOT NULL,
    started_at double precision NOT NULL,
    last_seen_at double precision NOT NULL,
    lease_seconds double precision NOT NULL,
    running integer NOT NULL DEFAULT 0
);

-- name: schema_v2
-- A claim or finish changes status, so PostgreSQL writes an entry into every index whose
-- predicate the new row version meets: drop (status, id), which no hot query needs (rescue and
-- stats use the leases and finished indexes), and keep jobs without a key out of the unique index.
DROP INDEX {schema}.jobs_status;
DROP INDEX {schema}.jobs_unique_active;
CREATE UNIQUE INDEX jobs_unique_active ON {schema}.jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing');

-- name: listen
LISTEN {channel};

-- name: async_commit
SET LOCAL synchronous_commit = off;

-- name: claim_in_order
-- Without fresh statistics (autovacuum lagging a bulk dispatch, or off) the planner guesses a
-- handful of ready jobs and collects and sorts every one of them, dead index entries included;
-- walking the ready index in claim order stops at the limit whatever the statistics say.
SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true);

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

-- name: job_progress_update
WITH updated AS (
    UPDATE {schema}.jobs
    SET progress_total = %(total)s, progress_processed = %(processed)s,
        progress_current = %(current)s, usage = %(usage)s::jsonb,
        checkpoint = CASE WHEN %(has_checkpoint)s THEN %(checkpoint)s::jsonb ELSE checkpoint END
    WHERE id = %(id)s AND attempts = %(attempt)s AND worker_id = %(worker_id)s
      AND status = 'processing'
    RETURNING id
), added AS (
    INSERT INTO {schema}.job_entries (job_id, kind, body)
    SELECT updated.id, e.entry ->> 'kind', e.entry -> 'body'
    FROM updated, jsonb_array_elements(%(entries)s::jsonb) WITH ORDINALITY AS e (entry, n)
    ORDER BY e.n
)
SELECT id FROM updated;

-- name: job_finish
-- Every outcome of a batch in one statement (so one transaction and one round trip), each with
-- its last progress; the entries are the progress's new results and errors, then the error.
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(outcomes)s::jsonb) AS x (
        n integer, id text, attempt integer, status text, result jsonb, error text,
        traceback text, retry_at double precision, completed_at double precision,
        has_progress boolean, total bigint, processed bigint, current text, usage jsonb,
        has_checkpoint boolean, checkpoint jsonb, entries jsonb
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
        checkpoint = CASE WHEN x.has_checkpoint THEN x.checkpoint ELSE j.checkpoint END
    FROM input AS x
    WHERE j.id = x.id AND j.attempts = x.attempt AND j.worker_id = %(worker_id)s
      AND j.status = 'processing'
    RETURNING j.id, j.status
), noted AS (
    INSERT INTO {schema}.job_entries (job_id, kind, body)
    SELECT f.id, e.entry ->> 'kind', e.entry -> 'body'
    FROM finished AS f
    JOIN input AS x ON x.id = f.id
    CROSS JOIN LATERAL jsonb_array_elements(x.entries) WITH ORDINALITY AS e (entry, k)
    ORDER BY x.n, e.k
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

-- name: job_cancel
UPDATE {schema}.jobs
SET status = 'cancelled', completed_at = %(now)s, lease_expires_at = NULL
WHERE id = %(id)s AND status IN ('pending', 'processing')
RETURNING id;

-- name: job_retry
UPDATE {schema}.jobs
SET status = 'pending', max_attempts = attempts + tries, available_at = %(now)s,
    completed_at = NULL, result = NULL, error = NULL, traceback = NULL
WHERE id = %(id)s AND status IN ('failed', 'cancelled')
RETURNING id, pg_notify(%(channel)s, '') AS notified;

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

-- name: stats_counts
SELECT queue, status, count(*) AS n FROM {schema}.jobs GROUP BY queue, status;

-- name: stats_finished_since
SELECT status, count(*) AS n FROM {schema}.jobs
WHERE completed_at >= %(since)s AND status IN ('completed', 'failed')
GROUP BY status;
