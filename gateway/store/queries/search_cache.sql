-- The SRU result cache's listening connection (gateway/search/cache.py, migration 0020).

-- name: ping
-- Whether the connection still answers (one that died without closing its socket does not).
SELECT 1;
