-- Named queries of gateway/intake/deliver.py (gateway.store.queries.load("deliver")).

-- name: unfinished_count
SELECT count(*) FROM deliveries WHERE id = ANY($1) AND status NOT IN ('done', 'failed');
