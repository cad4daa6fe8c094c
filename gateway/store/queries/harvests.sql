-- The last OAI-PMH list request per library set (gateway.oai.harvests).

-- name: harvest_record
INSERT INTO oai_harvests (set_spec, sigel, last_at)
SELECT $1, sigel, now() FROM libraries WHERE sigel = $2
ON CONFLICT (set_spec) DO UPDATE SET last_at = excluded.last_at;
