-- Batches: many child jobs followed as one (store/sqlite/batches.py). A child names its batch in
-- jobs.batch_id (the last column), and the batch's row keeps counters that triggers on the jobs
-- table update in the statement that moves a child, so that no path (dispatch, claim, finish,
-- lease rescue, cancel, retry, release, delete) can forget them, and reading a batch costs the
-- same for ten items or a hundred thousand. Each trigger's WHEN clause leaves jobs without a
-- batch alone.
--
-- What a child adds to its batch (its share): one job in the counter of its status, and its n
-- items (the length of its "items" argument) in items_total. Until it finishes, at most n of
-- its processed count in items_processed. Once finished, all n items are processed, and its
-- latest n results decide: a result whose "success" is false is a failed item, any other a
-- succeeded one, and an item without a result succeeded if the child completed and failed if
-- it failed or was cancelled. Latest: a retried child's new results replace its earlier ones.
-- Its usage counts in the batch's usage (per key) while it runs as well.
--
-- The batch ends when no child is pending or processing and no creation is under way
-- (building counts the calls adding children, which take a transaction per thousand): then
-- completed_at is set, runs counts one more end and callbacks_due asks the maintenance duty
-- to dispatch the callbacks. A child failing a batch that allows no failure sets failure_due
-- once per run (failure_run is the run it was set for).
ALTER TABLE underway_jobs ADD COLUMN batch_id TEXT;
CREATE INDEX underway_jobs_batch ON underway_jobs (batch_id, id) WHERE batch_id IS NOT NULL;
CREATE INDEX underway_jobs_batch_failed ON underway_jobs (batch_id, id)
    WHERE batch_id IS NOT NULL AND status = 'failed';
CREATE INDEX underway_jobs_batch_started ON underway_jobs (batch_id, id)
    WHERE batch_id IS NOT NULL AND started_at IS NOT NULL;
CREATE TABLE underway_batches (
    id TEXT PRIMARY KEY,
    name TEXT,
    task TEXT NOT NULL,
    owner TEXT,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL CHECK (chunk_size >= 1),
    allow_failures INTEGER NOT NULL CHECK (allow_failures IN (0, 1)),
    on_success TEXT,
    on_failure TEXT,
    on_complete TEXT,
    callback_options TEXT NOT NULL,
    created_at REAL NOT NULL,
    completed_at REAL,
    cancelled_at REAL,
    last_finished_at REAL,
    building INTEGER NOT NULL DEFAULT 1 CHECK (building >= 0),
    items_total INTEGER NOT NULL DEFAULT 0,
    jobs_total INTEGER NOT NULL DEFAULT 0,
    jobs_pending INTEGER NOT NULL DEFAULT 0,
    jobs_processing INTEGER NOT NULL DEFAULT 0,
    jobs_completed INTEGER NOT NULL DEFAULT 0,
    jobs_failed INTEGER NOT NULL DEFAULT 0,
    jobs_cancelled INTEGER NOT NULL DEFAULT 0,
    items_processed INTEGER NOT NULL DEFAULT 0,
    items_succeeded INTEGER NOT NULL DEFAULT 0,
    items_failed INTEGER NOT NULL DEFAULT 0,
    usage TEXT,
    progress_current TEXT,
    callbacks_due INTEGER NOT NULL DEFAULT 0 CHECK (callbacks_due IN (0, 1)),
    failure_due INTEGER NOT NULL DEFAULT 0 CHECK (failure_due IN (0, 1)),
    failure_run INTEGER,
    success_called INTEGER NOT NULL DEFAULT 0 CHECK (success_called IN (0, 1)),
    runs INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX underway_batches_due ON underway_batches (id)
    WHERE callbacks_due = 1 OR failure_due = 1;
CREATE TRIGGER underway_batch_child_added AFTER INSERT ON underway_jobs
WHEN NEW.batch_id IS NOT NULL
BEGIN
    UPDATE underway_batches
    SET jobs_total = jobs_total + 1,
        jobs_pending = jobs_pending + (NEW.status = 'pending'),
        items_total = items_total + coalesce(json_array_length(NEW.args, '$.items'), 0)
    WHERE id = NEW.batch_id;
END;
CREATE TRIGGER underway_batch_child_deleted AFTER DELETE ON underway_jobs
WHEN OLD.batch_id IS NOT NULL AND OLD.status = 'pending'
BEGIN
    UPDATE underway_batches
    SET jobs_total = jobs_total - 1, jobs_pending = jobs_pending - 1,
        items_total = items_total - c.n, items_processed = items_processed - min(OLD.progress_processed, c.n)
    FROM (SELECT coalesce(json_array_length(OLD.args, '$.items'), 0) AS n) AS c
    WHERE id = OLD.batch_id;
END;
CREATE TRIGGER underway_batch_child_moved
AFTER UPDATE OF status, progress_processed, progress_current, usage ON underway_jobs
WHEN NEW.batch_id IS NOT NULL
 AND (NEW.status IS NOT OLD.status OR NEW.progress_processed IS NOT OLD.progress_processed
      OR NEW.progress_current IS NOT OLD.progress_current OR NEW.usage IS NOT OLD.usage)
BEGIN
    UPDATE underway_batches SET failure_due = 1, failure_run = runs
    WHERE id = NEW.batch_id AND NEW.status = 'failed' AND OLD.status != 'failed'
      AND allow_failures = 0 AND coalesce(failure_run, -1) < runs;
    UPDATE underway_batches
    SET items_processed = items_processed + c.processed_now - c.processed_before,
        items_succeeded = items_succeeded + c.sign * (
            CASE WHEN c.status = 'completed' THEN c.n - c.bad ELSE c.reported - c.bad END),
        items_failed = items_failed + c.sign * (
            CASE WHEN c.status = 'completed' THEN c.bad ELSE c.n - c.reported + c.bad END),
        usage = CASE WHEN NEW.usage IS OLD.usage THEN usage ELSE (
            SELECT json_group_object(key, total) FROM (
                SELECT key, sum(value) AS total FROM (
                    SELECT key, value FROM json_each(underway_batches.usage)
                    UNION ALL
                    SELECT key, value FROM json_each(NEW.usage)
                    WHERE type IN ('integer', 'real')
                    UNION ALL
                    SELECT key, -value FROM json_each(OLD.usage)
                    WHERE type IN ('integer', 'real')
                ) GROUP BY key
            )
        ) END,
        progress_current = coalesce(NEW.progress_current, progress_current),
        last_finished_at = max(coalesce(last_finished_at, NEW.completed_at), NEW.completed_at),
        jobs_pending = jobs_pending + (NEW.status = 'pending') - (OLD.status = 'pending'),
        jobs_processing = jobs_processing
            + (NEW.status = 'processing') - (OLD.status = 'processing'),
        jobs_completed = jobs_completed + (NEW.status = 'completed') - (OLD.status = 'completed'),
        jobs_failed = jobs_failed + (NEW.status = 'failed') - (OLD.status = 'failed'),
        jobs_cancelled = jobs_cancelled + (NEW.status = 'cancelled') - (OLD.status = 'cancelled')
    FROM (
        SELECT s.*,
               (SELECT count(*) FROM (
                    SELECT 1 FROM underway_job_entries
                    WHERE job_id = NEW.id AND kind = 'result' AND s.sign != 0
                    ORDER BY seq DESC
                    LIMIT coalesce(json_array_length(NEW.args, '$.items'), 0))) AS reported,
               (SELECT count(*) FROM (
                    SELECT body FROM underway_job_entries
                    WHERE job_id = NEW.id AND kind = 'result' AND s.sign != 0
                    ORDER BY seq DESC
                    LIMIT coalesce(json_array_length(NEW.args, '$.items'), 0))
                WHERE json_type(body, '$.success') = 'false') AS bad
        FROM (
            SELECT n,
                   CASE WHEN NEW.completed_at IS NOT NULL THEN n
                        ELSE min(NEW.progress_processed, n) END AS processed_now,
                   CASE WHEN OLD.completed_at IS NOT NULL THEN n
                        ELSE min(OLD.progress_processed, n) END AS processed_before,
                   CASE WHEN NEW.completed_at IS NOT NULL AND OLD.completed_at IS NULL THEN 1
                        WHEN OLD.completed_at IS NOT NULL AND NEW.completed_at IS NULL THEN -1
                        ELSE 0 END AS sign,
                   CASE WHEN NEW.completed_at IS NOT NULL THEN NEW.status
                        ELSE OLD.status END AS status
            FROM (SELECT coalesce(json_array_length(NEW.args, '$.items'), 0) AS n)
        ) AS s
    ) AS c
    WHERE id = NEW.batch_id;
END;
CREATE TRIGGER underway_batch_ends
AFTER UPDATE OF jobs_pending, jobs_processing, building ON underway_batches
WHEN NEW.jobs_pending + NEW.jobs_processing = 0 AND NEW.building = 0
 AND NEW.completed_at IS NULL
BEGIN
    UPDATE underway_batches
    SET completed_at = coalesce(last_finished_at, created_at), runs = runs + 1,
        callbacks_due = 1
    WHERE id = NEW.id;
END;
CREATE TRIGGER underway_batch_reopens
AFTER UPDATE OF jobs_pending, jobs_processing, building ON underway_batches
WHEN (NEW.jobs_pending + NEW.jobs_processing > 0 OR NEW.building > 0)
 AND NEW.completed_at IS NOT NULL
BEGIN
    UPDATE underway_batches SET completed_at = NULL WHERE id = NEW.id;
END
