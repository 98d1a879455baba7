-- Watch: what a server's event streams need to follow jobs without re-reading them whole.

-- name: watch_job_row
SELECT * FROM underway_jobs WHERE id = :id;

-- name: watch_entries_after
SELECT seq, kind, body FROM underway_job_entries
WHERE job_id = :id AND seq > :after
ORDER BY seq;
