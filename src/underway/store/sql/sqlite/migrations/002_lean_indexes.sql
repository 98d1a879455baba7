-- Every index a job row is in costs each dispatch, claim and finish a b-tree write: drop the
-- ones no query needs (leases and finished-time indexes serve rescue and stats), and keep jobs
-- without a unique key out of the unique index.
DROP INDEX underway_jobs_held;
DROP INDEX underway_jobs_status;
DROP INDEX underway_jobs_unique_active;
CREATE UNIQUE INDEX underway_jobs_unique_active ON underway_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing');
