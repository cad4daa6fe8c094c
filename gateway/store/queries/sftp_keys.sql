-- Named queries of gateway/sftp/keys.py (gateway.store.queries.load("sftp_keys")).

-- name: add_key
INSERT INTO supplier_keys (supplier_id, algorithm, public_key, fingerprint, comment)
 VALUES ($1, $2, $3, $4, $5) RETURNING id, algorithm, fingerprint, comment, created_at;

-- name: key_owner
SELECT s.code FROM supplier_keys k JOIN suppliers s ON s.id = k.supplier_id WHERE k.fingerprint = $1;

-- name: list_keys
SELECT id, algorithm, fingerprint, comment, created_at FROM supplier_keys WHERE supplier_id = $1 ORDER BY id;

-- name: remove_key
DELETE FROM supplier_keys WHERE supplier_id = $1 AND (id = $2 OR fingerprint = $3) RETURNING id;

-- name: supplier_for_key
SELECT s.id, s.code, s.name, k.public_key FROM supplier_keys k JOIN suppliers s ON s.id = k.supplier_id
 WHERE k.fingerprint = $1 AND s.code = $2;
