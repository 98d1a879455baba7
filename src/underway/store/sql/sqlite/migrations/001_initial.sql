-- The first schema: jobs (CHECKs guard the state invariants, partial indexes serve the claim
-- path), each job's results and errors in order, and the workers alive.
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
