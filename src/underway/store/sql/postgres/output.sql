-- Output: reading a job's live output (job.stream) from a character offset.
-- {schema} is replaced by the quoted schema name; %(name)s are query parameters.

-- name: job_output
-- One statement, so one snapshot: the job's output_length, with the chunks that cover
-- [offset, end) in order, from the last chunk starting at or before the offset (found in the
-- (job_id, start_offset) index, not by reading from 0) up to the end asked for or the end the
-- job's row counts. No row: no such job. One row of NULL chunk columns: nothing to read there.
SELECT j.output_length, o.start_offset, o.body
FROM {schema}.jobs AS j
LEFT JOIN {schema}.job_output AS o
    ON o.job_id = j.id
    AND o.start_offset >= COALESCE((
        SELECT start_offset FROM {schema}.job_output
        WHERE job_id = %(id)s AND start_offset <= %(offset)s
        ORDER BY start_offset DESC LIMIT 1
    ), 0)
    AND o.start_offset < %(end)s
    AND o.start_offset < j.output_length
WHERE j.id = %(id)s
ORDER BY o.start_offset;
