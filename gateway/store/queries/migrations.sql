-- Named queries of gateway/store/migrations.py (gateway.store.queries.load("migrations")).

-- name: lock
SELECT pg_advisory_lock($1);

-- name: applied
SELECT version FROM schema_migrations;

-- name: record_applied
INSERT INTO schema_migrations (version, name) VALUES ($1, $2);

-- name: unlock
SELECT pg_advisory_unlock($1);

-- name: table_exists
SELECT to_regclass('schema_migrations') IS NOT NULL;

