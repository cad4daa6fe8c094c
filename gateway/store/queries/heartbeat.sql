-- Named queries of gateway/ops/heartbeat.py (gateway.store.queries.load("heartbeat")).

-- name: register
INSERT INTO processes (role, duties, host, pid, listen, version, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
RETURNING id;

-- name: beat
UPDATE processes
   SET beat_at = now(), expires_at = now() + make_interval(secs => $2), stopping = $3,
       metrics = coalesce($4, metrics)
 WHERE id = $1
RETURNING id;

-- name: expire
DELETE FROM processes WHERE expires_at < now();

-- name: leave
DELETE FROM processes WHERE id = $1;

-- name: alive
SELECT id, role, duties, host, pid, listen, version, started_at, beat_at, stopping,
       extract(epoch FROM now() - started_at)::float8 AS up_seconds,
       extract(epoch FROM now() - beat_at)::float8 AS beat_age
  FROM processes
 WHERE expires_at >= now()
 ORDER BY role, host, pid;

-- name: alive_metrics
SELECT id, role, host, pid, metrics
  FROM processes
 WHERE expires_at >= now() AND metrics IS NOT NULL
 ORDER BY id;
