-- The first schema: jobs (CHECKs guard the state invariants, partial indexes serve the claim
-- path), each job's results and errors in order, and the workers alive.
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
