-- A claim or finish changes status, so PostgreSQL writes an entry into every index whose
-- predicate the new row version meets: drop (status, id), which no hot query needs (rescue and
-- stats use the leases and finished indexes), and keep jobs without a key out of the unique index.
DROP INDEX {schema}.jobs_status;
DROP INDEX {schema}.jobs_unique_active;
CREATE UNIQUE INDEX jobs_unique_active ON {schema}.jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing');
