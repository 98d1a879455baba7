-- Wake-up: the LISTEN connection's channel.
-- {schema} is replaced by the quoted schema name (psycopg.sql.Identifier) and {channel} by
-- the quoted notification channel; %(name)s are query parameters. Times are double precision
-- seconds since the epoch, exactly as the model holds them.

-- name: listen
LISTEN {channel};

-- name: listen_jobs
-- Event streams: each notification's payload is the ids of jobs that changed, joined by commas.
LISTEN {job_channel};
