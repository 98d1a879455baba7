-- Stats: counts per queue and status, and recent throughput.

-- name: stats_counts
SELECT queue, status, count(*) AS n FROM underway_jobs GROUP BY queue, status;

-- name: stats_finished_since
SELECT status, count(*) AS n FROM underway_jobs
WHERE completed_at >= :since AND status IN ('completed', 'failed')
GROUP BY status;
