-- Named queries of gateway/intake/workers.py (gateway.store.queries.load("workers")).

-- name: claim
SELECT d.id FROM deliveries d
 WHERE d.status IN ('received', 'processing')
   AND NOT EXISTS (SELECT 1 FROM pg_locks l
                    WHERE l.locktype = 'advisory' AND l.classid = $1::oid AND l.objid = d.id::oid
                      AND l.objsubid = 2)
 ORDER BY d.id
 LIMIT 1
 FOR UPDATE SKIP LOCKED;

-- name: try_lock
SELECT pg_try_advisory_lock($1::int, $2::int);

-- name: mark_processing
UPDATE deliveries SET status = 'processing', attempts = attempts + 1,
       started_at = coalesce(started_at, now())
 WHERE id = $1;

-- name: unlock
SELECT pg_advisory_unlock($1::int, $2::int);

-- name: attempts
SELECT attempts FROM deliveries WHERE id = $1;

-- name: give_up
UPDATE deliveries SET status = 'failed', finished_at = now(), error = $2 WHERE id = $1;

-- name: record_error
UPDATE deliveries SET error = $2 WHERE id = $1;

-- name: hand_back
UPDATE deliveries SET attempts = greatest(attempts - 1, 0) WHERE id = $1;
