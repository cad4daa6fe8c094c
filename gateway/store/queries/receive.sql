-- Named queries of gateway/intake/receive.py (gateway.store.queries.load("receive")).

-- name: by_idempotency_key
SELECT id, status FROM deliveries WHERE supplier_id = $1 AND idempotency_key = $2;

-- name: insert_delivery
INSERT INTO deliveries (supplier_id, format, charset, sha256, size, record_count, source, file)
 VALUES ($1, $2, $3, '', 0, 0, $4, $5::text::jsonb) RETURNING id;

-- name: insert_chunk
INSERT INTO delivery_chunks (delivery_id, seq, data) VALUES ($1, $2, $3);

-- name: seal_delivery
UPDATE deliveries SET idempotency_key = $2, sha256 = $3, size = $4, record_count = $5
 WHERE id = $1;

-- name: notify
SELECT pg_notify($1, $2);
