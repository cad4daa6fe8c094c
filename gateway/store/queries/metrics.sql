-- Named queries of gateway/ops/metrics.py (gateway.store.queries.load("metrics")): the figures
-- read from the database at scrape time, the same whichever process is asked.

-- name: deliveries
SELECT s.code AS supplier, d.status, count(*) AS n
  FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
 GROUP BY s.code, d.status;

-- name: queue
SELECT count(*) AS waiting,
       coalesce(extract(epoch FROM now() - min(received_at)), 0)::float8 AS oldest_seconds
  FROM deliveries
 WHERE status IN ('received', 'processing');

-- name: review_open
SELECT count(*) FROM review_items WHERE resolved_at IS NULL;

-- name: outbox
SELECT 'mail' AS channel, status, count(*) AS n FROM notifications GROUP BY status
UNION ALL
SELECT 'webhook', status, count(*) FROM webhook_events GROUP BY status;

-- name: processes
SELECT role, count(*) AS n FROM processes WHERE expires_at >= now() GROUP BY role;
