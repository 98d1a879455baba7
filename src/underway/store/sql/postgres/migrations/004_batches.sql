-- Batches: many child jobs followed as one (store/postgres/batches.py). A child names its batch
-- in jobs.batch_id (the last column), and the batch's row keeps counters that triggers on the
-- jobs table count in the transaction that moves a child, so that no path (dispatch, claim,
-- finish, lease rescue, cancel, retry, release, delete) can forget them, and reading a batch
-- costs the same for ten items or a hundred thousand. Each trigger's WHEN clause leaves jobs
-- without a batch alone: for them no function is called.
--
-- What a child adds to its batch (its share): one job in the counter of its status, and its n
-- items (the length of its "items" argument) in items_total. Until it finishes, at most n of
-- its processed count in items_processed. Once finished, all n items are processed, and its
-- latest n results decide: a result whose "success" is false is a failed item, any other a
-- succeeded one, and an item without a result succeeded if the child completed and failed if
-- it failed or was cancelled. Latest: a retried child's new results replace its earlier ones.
-- Its usage counts in the batch's usage (per key) while it runs as well.
--
-- Why not update the batch's row from each row trigger. Many transactions move children of one
-- batch at once (workers claiming, finishing, rescuing), and one may move children of several
-- batches. Each would hold the batch's row until its commit's WAL flush, so they would commit
-- one after another (a convoy that stalls workers when flushes are slow), and two could lock
-- two batches in opposite orders and deadlock. So a row trigger (batch_track) only adds what
-- changed to the transaction's own sum, kept per batch in the transaction-local setting
-- underway.batch_deltas (batch_note). When the transaction commits, a deferred trigger
-- (batch_fold, on the same events, the first firing doing the work) adds each batch's sum to
-- its row if it can lock that row without waiting (SKIP LOCKED), with any sums left in
-- batch_deltas, and otherwise leaves its sum there, committed with it. The next fold of that
-- batch takes them, or the maintenance duty's (batch_due runs batch_fold_waiting first). So no
-- transaction waits for a batch's row to count its children, a transaction's changes count
-- all at once (never half of them), and reading a batch adds the sums not folded yet
-- (batch_counted): rows only of the transactions that committed while another held the row.
-- Creating, settling and the operator's changes lock the row (waiting) and fold at once
-- (batch_fold_now), before they change it. A call writing a thousand children counts them
-- itself, in that fold: it names the batch in underway.batch_writing for its transaction,
-- and the insert triggers leave that batch's children to it (a sum per child inserted would
-- cost more than the insert).
--
-- The batch ends when no child is pending or processing and no creation is under way
-- (building counts the calls adding children, which take a transaction per thousand: the last
-- one's decrement is folded together with the children it wrote): then
-- completed_at is set, runs counts one more end and callbacks_due asks the maintenance duty
-- to dispatch the callbacks (batch_ends, before each update of a batch's row: an end is
-- decided by a fold, with every sum it folded). A child failing a batch that allows no
-- failure sets failure_due once per run (failure_run is that run).
ALTER TABLE {schema}.jobs ADD COLUMN batch_id text COLLATE "C";
CREATE INDEX jobs_batch ON {schema}.jobs (batch_id, id) WHERE batch_id IS NOT NULL;
CREATE INDEX jobs_batch_failed ON {schema}.jobs (batch_id, id)
    WHERE batch_id IS NOT NULL AND status = 'failed';
CREATE INDEX jobs_batch_started ON {schema}.jobs (batch_id, id)
    WHERE batch_id IS NOT NULL AND started_at IS NOT NULL;
CREATE TABLE {schema}.batches (
    id text COLLATE "C" PRIMARY KEY,
    name text,
    task text NOT NULL,
    owner text,
    queue text NOT NULL,
    priority integer NOT NULL,
    chunk_size integer NOT NULL CHECK (chunk_size >= 1),
    allow_failures integer NOT NULL CHECK (allow_failures IN (0, 1)),
    on_success text,
    on_failure text,
    on_complete text,
    callback_options jsonb NOT NULL,
    created_at double precision NOT NULL,
    completed_at double precision,
    cancelled_at double precision,
    last_finished_at double precision,
    building integer NOT NULL DEFAULT 1 CHECK (building >= 0),
    items_total bigint NOT NULL DEFAULT 0,
    jobs_total bigint NOT NULL DEFAULT 0,
    jobs_pending bigint NOT NULL DEFAULT 0,
    jobs_processing bigint NOT NULL DEFAULT 0,
    jobs_completed bigint NOT NULL DEFAULT 0,
    jobs_failed bigint NOT NULL DEFAULT 0,
    jobs_cancelled bigint NOT NULL DEFAULT 0,
    items_processed bigint NOT NULL DEFAULT 0,
    items_succeeded bigint NOT NULL DEFAULT 0,
    items_failed bigint NOT NULL DEFAULT 0,
    usage jsonb,
    progress_current text,
    callbacks_due integer NOT NULL DEFAULT 0 CHECK (callbacks_due IN (0, 1)),
    failure_due integer NOT NULL DEFAULT 0 CHECK (failure_due IN (0, 1)),
    failure_run integer,
    success_called integer NOT NULL DEFAULT 0 CHECK (success_called IN (0, 1)),
    runs integer NOT NULL DEFAULT 0
);
CREATE INDEX batches_due ON {schema}.batches (id) WHERE callbacks_due = 1 OR failure_due = 1;
CREATE TABLE {schema}.batch_deltas (
    seq bigint GENERATED ALWAYS AS IDENTITY,
    batch_id text COLLATE "C" NOT NULL,
    delta jsonb NOT NULL
);
CREATE INDEX batch_deltas_batch ON {schema}.batch_deltas (batch_id, seq);
CREATE FUNCTION {schema}.batch_items(args jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(args -> 'items') = 'array'
                THEN jsonb_array_length(args -> 'items') ELSE 0 END
$$;
CREATE FUNCTION {schema}.batch_usage_sum(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    -- Per-key sums of two usage objects (numbers only), NULL when neither has any.
    SELECT jsonb_object_agg(key, total) FROM (
        SELECT key, sum(value::numeric) AS total FROM (
            SELECT key, value FROM jsonb_each(a) UNION ALL SELECT key, value FROM jsonb_each(b)
        ) AS parts
        WHERE jsonb_typeof(value) = 'number'
        GROUP BY key
    ) AS summed
$$;
CREATE FUNCTION {schema}.batch_merge(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    -- Two sums of changes as one: counts added, the latest finish time and current item, the
    -- usage per key. Keys: building, jobs_total, jobs_pending, jobs_processing,
    -- jobs_completed, jobs_failed, jobs_cancelled, failed_entered, items_total,
    -- items_processed, items_succeeded, items_failed, finished_at, progress_current, usage.
    SELECT coalesce((
        SELECT jsonb_object_agg(key, total) FROM (
            SELECT key, sum(value::numeric) AS total FROM (
                SELECT key, value FROM jsonb_each(a)
                UNION ALL
                SELECT key, value FROM jsonb_each(b)
            ) AS parts
            WHERE key NOT IN ('finished_at', 'progress_current', 'usage')
            GROUP BY key
        ) AS counts
    ), jsonb_build_object()) || jsonb_strip_nulls(jsonb_build_object(
        'finished_at', greatest((a ->> 'finished_at')::float8, (b ->> 'finished_at')::float8),
        'progress_current', coalesce(b ->> 'progress_current', a ->> 'progress_current'),
        'usage', {schema}.batch_usage_sum(a -> 'usage', b -> 'usage')
    ))
$$;
CREATE FUNCTION {schema}.batch_note(batch text, delta jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    sums jsonb := coalesce(
        nullif(current_setting('underway.batch_deltas', true), '')::jsonb, jsonb_build_object()
    );
BEGIN
    sums := jsonb_set(sums, ARRAY[batch], {schema}.batch_merge(sums -> batch, delta));
    PERFORM set_config('underway.batch_deltas', sums::text, true);
END
$$;
CREATE FUNCTION {schema}.batch_share(
    child text, n integer, status text, processed bigint,
    OUT done bigint, OUT succeeded bigint, OUT failed bigint
) LANGUAGE plpgsql AS $$
DECLARE
    reported bigint;
    bad bigint;
BEGIN
    IF status IS NULL OR status NOT IN ('completed', 'failed', 'cancelled') THEN
        done := least(coalesce(processed, 0), n);
        succeeded := 0;
        failed := 0;
        RETURN;
    END IF;
    SELECT count(*), count(*) FILTER (WHERE latest.body -> 'success' = 'false'::jsonb)
    INTO reported, bad
    FROM (
        SELECT e.body FROM {schema}.job_entries AS e
        WHERE e.job_id = child AND e.kind = 'result'
        ORDER BY e.seq DESC LIMIT n
    ) AS latest;
    done := n;
    IF status = 'completed' THEN
        succeeded := n - bad;
        failed := bad;
    ELSE
        succeeded := reported - bad;
        failed := n - reported + bad;
    END IF;
END
$$;
CREATE FUNCTION {schema}.batch_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    now_share record;
    was_share record;
    negated jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        n := {schema}.batch_items(OLD.args);
        PERFORM {schema}.batch_note(OLD.batch_id, jsonb_build_object(
            'jobs_total', -1, 'jobs_pending', -1, 'items_total', -n,
            'items_processed', -least(OLD.progress_processed, n)
        ));
        RETURN NULL;
    END IF;
    n := {schema}.batch_items(NEW.args);
    IF TG_OP = 'INSERT' THEN
        PERFORM {schema}.batch_note(NEW.batch_id, jsonb_build_object(
            'jobs_total', 1, 'jobs_pending', (NEW.status = 'pending')::integer, 'items_total', n,
            'items_processed', least(NEW.progress_processed, n)
        ));
        RETURN NULL;
    END IF;
    now_share := {schema}.batch_share(NEW.id, n, NEW.status, NEW.progress_processed);
    was_share := {schema}.batch_share(OLD.id, n, OLD.status, OLD.progress_processed);
    IF NEW.usage IS DISTINCT FROM OLD.usage THEN
        SELECT jsonb_object_agg(key, -(value::numeric)) INTO negated
        FROM jsonb_each(OLD.usage) WHERE jsonb_typeof(value) = 'number';
    END IF;
    PERFORM {schema}.batch_note(NEW.batch_id, jsonb_strip_nulls(jsonb_build_object(
        'jobs_pending', (NEW.status = 'pending')::integer - (OLD.status = 'pending')::integer,
        'jobs_processing',
            (NEW.status = 'processing')::integer - (OLD.status = 'processing')::integer,
        'jobs_completed',
            (NEW.status = 'completed')::integer - (OLD.status = 'completed')::integer,
        'jobs_failed', (NEW.status = 'failed')::integer - (OLD.status = 'failed')::integer,
        'jobs_cancelled',
            (NEW.status = 'cancelled')::integer - (OLD.status = 'cancelled')::integer,
        'failed_entered', (NEW.status = 'failed' AND OLD.status <> 'failed')::integer,
        'items_processed', now_share.done - was_share.done,
        'items_succeeded', now_share.succeeded - was_share.succeeded,
        'items_failed', now_share.failed - was_share.failed,
        'usage', CASE WHEN NEW.usage IS DISTINCT FROM OLD.usage
                      THEN {schema}.batch_usage_sum(NEW.usage, negated) END,
        'progress_current', NEW.progress_current,
        'finished_at', NEW.completed_at
    )));
    RETURN NULL;
END
$$;
CREATE FUNCTION {schema}.batch_apply(batch text, extra jsonb) RETURNS void LANGUAGE plpgsql AS $$
-- Add extra and every sum left in batch_deltas for the batch to its row (the caller holds the
-- row's lock). The sums are deleted as they are read: exactly those are added.
DECLARE
    total jsonb := extra;
    delta jsonb;
BEGIN
    FOR delta IN DELETE FROM {schema}.batch_deltas AS d WHERE d.batch_id = batch RETURNING d.delta
    LOOP
        total := {schema}.batch_merge(total, delta);
    END LOOP;
    IF total IS NULL THEN
        RETURN;
    END IF;
    UPDATE {schema}.batches AS b
    SET building = greatest(b.building + coalesce((total ->> 'building')::bigint, 0), 0),
        jobs_total = b.jobs_total + coalesce((total ->> 'jobs_total')::bigint, 0),
        jobs_pending = b.jobs_pending + coalesce((total ->> 'jobs_pending')::bigint, 0),
        jobs_processing = b.jobs_processing + coalesce((total ->> 'jobs_processing')::bigint, 0),
        jobs_completed = b.jobs_completed + coalesce((total ->> 'jobs_completed')::bigint, 0),
        jobs_failed = b.jobs_failed + coalesce((total ->> 'jobs_failed')::bigint, 0),
        jobs_cancelled = b.jobs_cancelled + coalesce((total ->> 'jobs_cancelled')::bigint, 0),
        items_total = b.items_total + coalesce((total ->> 'items_total')::bigint, 0),
        items_processed = b.items_processed + coalesce((total ->> 'items_processed')::bigint, 0),
        items_succeeded = b.items_succeeded + coalesce((total ->> 'items_succeeded')::bigint, 0),
        items_failed = b.items_failed + coalesce((total ->> 'items_failed')::bigint, 0),
        last_finished_at = greatest(b.last_finished_at, (total ->> 'finished_at')::float8),
        progress_current = coalesce(total ->> 'progress_current', b.progress_current),
        usage = coalesce({schema}.batch_usage_sum(b.usage, total -> 'usage'), b.usage),
        failure_due = CASE
            WHEN coalesce((total ->> 'failed_entered')::bigint, 0) > 0 AND b.allow_failures = 0
                 AND coalesce(b.failure_run, -1) < b.runs THEN 1
            ELSE b.failure_due END,
        failure_run = CASE
            WHEN coalesce((total ->> 'failed_entered')::bigint, 0) > 0 AND b.allow_failures = 0
                 AND coalesce(b.failure_run, -1) < b.runs THEN b.runs
            ELSE b.failure_run END
    WHERE b.id = batch;
END
$$;
CREATE FUNCTION {schema}.batch_fold_now(batch text, extra jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
-- For creating, settling and the operator's changes: lock the row (waiting for it), then fold
-- into it this transaction's sum so far, extra, and the sums left. False: no such batch.
DECLARE
    sums jsonb := nullif(current_setting('underway.batch_deltas', true), '')::jsonb;
BEGIN
    PERFORM 1 FROM {schema}.batches WHERE id = batch FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF sums ? batch THEN
        extra := {schema}.batch_merge(sums -> batch, extra);
        PERFORM set_config('underway.batch_deltas', (sums - batch)::text, true);
    END IF;
    PERFORM {schema}.batch_apply(batch, extra);
    RETURN true;
END
$$;
CREATE FUNCTION {schema}.batch_fold() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sums jsonb := nullif(current_setting('underway.batch_deltas', true), '')::jsonb;
    batch text;
    delta jsonb;
BEGIN
    IF sums IS NULL THEN
        RETURN NULL;  -- folded by an earlier firing in this commit
    END IF;
    PERFORM set_config('underway.batch_deltas', '', true);
    FOR batch, delta IN SELECT key, value FROM jsonb_each(sums) ORDER BY key LOOP
        PERFORM 1 FROM {schema}.batches WHERE id = batch FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            PERFORM {schema}.batch_apply(batch, delta);
        ELSIF EXISTS (SELECT 1 FROM {schema}.batches WHERE id = batch) THEN
            INSERT INTO {schema}.batch_deltas (batch_id, delta) VALUES (batch, delta);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
CREATE FUNCTION {schema}.batch_fold_waiting(most integer) RETURNS integer
LANGUAGE plpgsql AS $$
-- Fold the sums that transactions left because their batch's row was busy.
DECLARE
    batch text;
    folded integer := 0;
BEGIN
    FOR batch IN SELECT DISTINCT d.batch_id FROM {schema}.batch_deltas AS d LIMIT most LOOP
        PERFORM 1 FROM {schema}.batches WHERE id = batch FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            PERFORM {schema}.batch_apply(batch, NULL);
            folded := folded + 1;
        END IF;
    END LOOP;
    RETURN folded;
END
$$;
CREATE TRIGGER batch_child_added AFTER INSERT ON {schema}.jobs
FOR EACH ROW WHEN (
    NEW.batch_id IS NOT NULL
    AND current_setting('underway.batch_writing', true) IS DISTINCT FROM NEW.batch_id
) EXECUTE FUNCTION {schema}.batch_track();
CREATE TRIGGER batch_child_deleted AFTER DELETE ON {schema}.jobs
FOR EACH ROW WHEN (OLD.batch_id IS NOT NULL AND OLD.status = 'pending')
EXECUTE FUNCTION {schema}.batch_track();
CREATE TRIGGER batch_child_moved
AFTER UPDATE OF status, progress_processed, progress_current, usage ON {schema}.jobs
FOR EACH ROW WHEN (
    NEW.batch_id IS NOT NULL AND (
        NEW.status IS DISTINCT FROM OLD.status
        OR NEW.progress_processed IS DISTINCT FROM OLD.progress_processed
        OR NEW.progress_current IS DISTINCT FROM OLD.progress_current
        OR NEW.usage IS DISTINCT FROM OLD.usage
    )
) EXECUTE FUNCTION {schema}.batch_track();
CREATE CONSTRAINT TRIGGER batch_child_added_folded AFTER INSERT ON {schema}.jobs
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (
    NEW.batch_id IS NOT NULL
    AND current_setting('underway.batch_writing', true) IS DISTINCT FROM NEW.batch_id
) EXECUTE FUNCTION {schema}.batch_fold();
CREATE CONSTRAINT TRIGGER batch_child_deleted_folded AFTER DELETE ON {schema}.jobs
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (OLD.batch_id IS NOT NULL AND OLD.status = 'pending')
EXECUTE FUNCTION {schema}.batch_fold();
CREATE CONSTRAINT TRIGGER batch_child_moved_folded
AFTER UPDATE OF status, progress_processed, progress_current, usage ON {schema}.jobs
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (
    NEW.batch_id IS NOT NULL AND (
        NEW.status IS DISTINCT FROM OLD.status
        OR NEW.progress_processed IS DISTINCT FROM OLD.progress_processed
        OR NEW.progress_current IS DISTINCT FROM OLD.progress_current
        OR NEW.usage IS DISTINCT FROM OLD.usage
    )
) EXECUTE FUNCTION {schema}.batch_fold();
CREATE FUNCTION {schema}.batch_counted(b {schema}.batches) RETURNS {schema}.batches
LANGUAGE plpgsql STABLE AS $$
-- The batch's row with the sums not folded yet added in: what reading a batch shows.
DECLARE
    total jsonb;
    delta jsonb;
BEGIN
    FOR delta IN
        SELECT d.delta FROM {schema}.batch_deltas AS d WHERE d.batch_id = b.id ORDER BY d.seq
    LOOP
        total := {schema}.batch_merge(total, delta);
    END LOOP;
    IF total IS NULL THEN
        RETURN b;
    END IF;
    b.building := greatest(b.building + coalesce((total ->> 'building')::bigint, 0), 0);
    b.jobs_total := b.jobs_total + coalesce((total ->> 'jobs_total')::bigint, 0);
    b.jobs_pending := b.jobs_pending + coalesce((total ->> 'jobs_pending')::bigint, 0);
    b.jobs_processing := b.jobs_processing + coalesce((total ->> 'jobs_processing')::bigint, 0);
    b.jobs_completed := b.jobs_completed + coalesce((total ->> 'jobs_completed')::bigint, 0);
    b.jobs_failed := b.jobs_failed + coalesce((total ->> 'jobs_failed')::bigint, 0);
    b.jobs_cancelled := b.jobs_cancelled + coalesce((total ->> 'jobs_cancelled')::bigint, 0);
    b.items_total := b.items_total + coalesce((total ->> 'items_total')::bigint, 0);
    b.items_processed := b.items_processed + coalesce((total ->> 'items_processed')::bigint, 0);
    b.items_succeeded := b.items_succeeded + coalesce((total ->> 'items_succeeded')::bigint, 0);
    b.items_failed := b.items_failed + coalesce((total ->> 'items_failed')::bigint, 0);
    b.progress_current := coalesce(total ->> 'progress_current', b.progress_current);
    b.usage := coalesce({schema}.batch_usage_sum(b.usage, total -> 'usage'), b.usage);
    RETURN b;
END
$$;
CREATE FUNCTION {schema}.batch_ends() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.jobs_pending + NEW.jobs_processing > 0 OR NEW.building > 0 THEN
        NEW.completed_at := NULL;
    ELSIF NEW.completed_at IS NULL THEN
        NEW.completed_at := coalesce(NEW.last_finished_at, NEW.created_at);
        NEW.runs := NEW.runs + 1;
        NEW.callbacks_due := 1;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER batch_ends BEFORE UPDATE ON {schema}.batches
FOR EACH ROW EXECUTE FUNCTION {schema}.batch_ends()
