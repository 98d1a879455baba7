-- Schema: inspect, lock, create and record versions (the steps are in migrations/).
-- {schema} is replaced by the quoted schema name (psycopg.sql.Identifier) and {channel} by
-- the quoted notification channel; %(name)s are query parameters. Times are double precision
-- seconds since the epoch, exactly as the model holds them.

-- name: schema_inspect
SELECT n.oid IS NOT NULL AS present,
       ARRAY(
           SELECT c.relname::text FROM pg_class AS c
           WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           ORDER BY c.relname
       ) AS tables
FROM (SELECT %(schema)s::name AS nspname) AS wanted
LEFT JOIN pg_namespace AS n ON n.nspname = wanted.nspname;

-- name: schema_version
SELECT max(version) AS version FROM {schema}.schema_migrations;

-- name: schema_lock
SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(schema)s));

-- name: schema_create
CREATE SCHEMA {schema};

-- name: schema_migrations_create
CREATE TABLE {schema}.schema_migrations (
    version integer PRIMARY KEY CHECK (version >= 1),
    applied_at double precision NOT NULL
);

-- name: schema_version_insert
INSERT INTO {schema}.schema_migrations (version, applied_at) VALUES (%(version)s, %(now)s);
