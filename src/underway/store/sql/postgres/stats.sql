-- Stats: counts per queue and status, and recent throughput.
-- {schema} is replaced by the quoted schema name (psycopg.sql.Identifier) and {channel} by
-- the quoted notification channel; %(name)s are query parameters. Times are double precision
-- seconds since the epoch, exactly as the model holds them.

-- name: stats_counts
SELECT queue, status, count(*) AS n FROM {schema}.jobs GROUP BY queue, status;

-- name: stats_finished_since
SELECT status, count(*) AS n FROM {schema}.jobs
WHERE completed_at >= %(since)s AND status IN ('completed', 'failed')
GROUP BY status;
