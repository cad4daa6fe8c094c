-- Named queries of gateway/library_tokens.py (gateway.store.queries.load("library_tokens")).

-- name: create_token
INSERT INTO library_tokens (sigel, token_hash, prefix) VALUES ($1, $2, $3) RETURNING id;

-- name: list_tokens
SELECT id, prefix, created_at, revoked_at FROM library_tokens WHERE sigel = $1 ORDER BY id;

-- name: revoke_token
UPDATE library_tokens SET revoked_at = now()
WHERE sigel = $1 AND revoked_at IS NULL AND ($2::bigint IS NULL OR id = $2);

-- name: authenticate
SELECT t.id, t.sigel, l.name FROM library_tokens t JOIN libraries l USING (sigel)
WHERE t.token_hash = $1 AND t.revoked_at IS NULL;
