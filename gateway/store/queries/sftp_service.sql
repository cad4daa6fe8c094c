-- Named queries of gateway/sftp/service.py (gateway.store.queries.load("sftp_service")).

-- name: suppliers_by_id
SELECT id, code, name FROM suppliers WHERE id = ANY($1::bigint[]);
