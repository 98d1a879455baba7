-- Live output (job.stream): the jobs table counts the characters a job has written and keeps
-- its latest progress rate, and each write's text is stored as chunks, each with the character
-- offset it starts at. Within a job start offsets grow with seq, so the index on (job_id,
-- start_offset) orders a job's chunks as seq does and also finds the chunk that holds a given
-- offset: a read from offset N starts there, not at 0. Chunks go with their job (ON DELETE
-- CASCADE, as its results and errors do). Adding columns with constant defaults rewrites no row.
ALTER TABLE {schema}.jobs ADD COLUMN output_length integer NOT NULL DEFAULT 0;
ALTER TABLE {schema}.jobs ADD COLUMN progress_rate double precision;
CREATE TABLE {schema}.job_output (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id text COLLATE "C" NOT NULL REFERENCES {schema}.jobs (id) ON DELETE CASCADE,
    start_offset integer NOT NULL CHECK (start_offset >= 0),
    body text NOT NULL
);
CREATE INDEX job_output_job ON {schema}.job_output (job_id, start_offset);
