-- Named queries of gateway/registry.py (gateway.store.queries.load("registry")).

-- name: add_supplier
INSERT INTO suppliers (code, name) VALUES ($1, $2) RETURNING id, code, name;

-- name: get_supplier
SELECT id, code, name FROM suppliers WHERE code = $1;

-- name: list_suppliers
SELECT s.code, s.name, s.created_at,
     (SELECT count(*) FROM supplier_tokens t
       WHERE t.supplier_id = s.id AND t.revoked_at IS NULL) AS active_tokens,
     ARRAY(SELECT c.sigel FROM customers c WHERE c.supplier_id = s.id ORDER BY c.sigel)
         AS customers
FROM suppliers s ORDER BY s.code;

-- name: remove_supplier
DELETE FROM suppliers WHERE code = $1;

-- name: create_token
INSERT INTO supplier_tokens (supplier_id, token_hash, prefix) VALUES ($1, $2, $3) RETURNING id;

-- name: list_tokens
SELECT id, prefix, created_at, revoked_at FROM supplier_tokens WHERE supplier_id = $1 ORDER BY id;

-- name: revoke_token
UPDATE supplier_tokens SET revoked_at = now()
WHERE supplier_id = $1 AND revoked_at IS NULL AND ($2::bigint IS NULL OR id = $2);

-- name: authenticate
SELECT s.id, s.code, s.name FROM supplier_tokens t JOIN suppliers s ON s.id = t.supplier_id
WHERE t.token_hash = $1 AND t.revoked_at IS NULL;

-- name: add_library
INSERT INTO libraries (sigel, name, emails, language, registered, digest)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING sigel, name, emails, language, registered, digest;

-- name: get_library
SELECT sigel, name, emails, language, registered, digest FROM libraries WHERE sigel = $1;

-- name: list_libraries
SELECT sigel, name, emails, language, registered, digest FROM libraries ORDER BY sigel;

-- name: remove_library
DELETE FROM libraries WHERE sigel = $1;

-- name: add_customer
INSERT INTO customers (supplier_id, sigel) VALUES ($1, $2);

-- name: remove_customer
DELETE FROM customers WHERE supplier_id = $1 AND sigel = $2;

-- name: list_customers
SELECT s.code AS supplier, c.sigel, l.name AS library
 FROM customers c JOIN suppliers s ON s.id = c.supplier_id JOIN libraries l USING (sigel)
WHERE $1::text IS NULL OR s.code = $1 ORDER BY s.code, c.sigel;
