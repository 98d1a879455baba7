-- Live output (job.stream): the jobs table counts the characters a job has written and keeps
-- its latest progress rate, and each write's text is stored as chunks, each with the character
-- offset it starts at. Within a job start offsets grow with seq, so the index on (job_id,
-- start_offset) orders a job's chunks as seq does and also finds the chunk that holds a given
-- offset: a read from offset N starts there, not at 0. Chunks go with their job (job_delete,
-- job_prune in jobs.sql).
ALTER TABLE underway_jobs ADD COLUMN output_length INTEGER NOT NULL DEFAULT 0;
ALTER TABLE underway_jobs ADD COLUMN progress_rate REAL;
CREATE TABLE underway_job_output (
    seq INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    start_offset INTEGER NOT NULL CHECK (start_offset >= 0),
    body TEXT NOT NULL
);
CREATE INDEX underway_job_output_job ON underway_job_output (job_id, start_offset);
