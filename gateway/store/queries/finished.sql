-- Named queries of gateway/intake/finished.py (gateway.store.queries.load("finished")).

-- name: notify
SELECT pg_notify($1, $2);
