-- Watch: what a server's event streams need to follow jobs without re-reading them whole.
-- {schema} is replaced by the quoted schema name; %(name)s are query parameters.

-- name: watch_jobs_since
-- One statement, so one snapshot: each row and the entries after its cursor agree.
SELECT j.*,
       (SELECT jsonb_agg(jsonb_build_array(e.seq, e.kind, e.body) ORDER BY e.seq)
        FROM {schema}.job_entries AS e
        WHERE e.job_id = j.id AND e.seq > c.after) AS entries
FROM unnest(%(ids)s::text[], %(afters)s::bigint[]) AS c (id, after)
JOIN {schema}.jobs AS j ON j.id = c.id;

-- name: notify_jobs
-- Event streams following these jobs learn of the change when (and if) it commits.
SELECT pg_notify(%(job_channel)s, %(ids)s);
