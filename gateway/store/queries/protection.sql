-- Named queries of gateway/intake/protection.py (gateway.store.queries.load("protection")).

-- name: set_protected
UPDATE bib_records SET protected = $2 WHERE id = $1 AND NOT deleted
RETURNING id, protected, encoding_level;
