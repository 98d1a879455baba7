-- Output: reading a job's live output (job.stream) from a character offset.

-- name: job_output
-- The job's output_length, with the chunks that cover [:offset, :end) in order: from the last
-- chunk starting at or before :offset (found in the (job_id, start_offset) index, not by reading
-- from 0) up to :end or the end the job's row counts, so chunks written after it are not read.
-- No row: no such job. One row of NULL chunk columns: nothing to read there.
SELECT j.output_length, o.start_offset, o.body
FROM underway_jobs AS j
LEFT JOIN underway_job_output AS o
    ON o.job_id = j.id
    AND o.start_offset >= COALESCE((
        SELECT start_offset FROM underway_job_output
        WHERE job_id = :id AND start_offset <= :offset
        ORDER BY start_offset DESC LIMIT 1
    ), 0)
    AND o.start_offset < :end
    AND o.start_offset < j.output_length
WHERE j.id = :id
ORDER BY o.start_offset;
