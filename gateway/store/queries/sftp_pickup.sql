-- Named queries of gateway/sftp/pickup.py (gateway.store.queries.load("sftp_pickup")).

-- name: delivery_status
SELECT status FROM deliveries WHERE id = $1;
