-- Named queries of gateway/http/deliveries.py (gateway.store.queries.load("deliveries")).

-- name: delivery_status
SELECT status FROM deliveries WHERE id = $1;
