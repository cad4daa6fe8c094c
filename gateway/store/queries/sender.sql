-- Named queries of gateway/outbox/sender.py (gateway.store.queries.load("sender")).

-- name: claim
WITH expired AS (
     SELECT id FROM notifications
     WHERE status = 'sending' AND lease_until < now()
     ORDER BY lease_until, id
     LIMIT 1
     FOR UPDATE SKIP LOCKED
 ), due AS (
     SELECT id FROM notifications
     WHERE status = 'pending' AND next_attempt_at <= now()
     ORDER BY next_attempt_at, id
     LIMIT 1
     FOR UPDATE SKIP LOCKED
 ), pick AS (
     (SELECT id FROM expired) UNION ALL (SELECT id FROM due) LIMIT 1
 )
 UPDATE notifications n
 SET status = 'sending', claim = $1, lease_until = now() + make_interval(secs => $2),
     attempts = n.attempts + 1, updated_at = now()
 FROM pick, libraries l
 WHERE n.id = pick.id AND l.sigel = n.sigel
 RETURNING n.id, n.kind, n.created_at, n.resends, n.attempts, n.content::text AS content,
           l.sigel, l.name, l.language, l.emails;

-- name: sent
UPDATE notifications
 SET status = $6, sent_at = now(), updated_at = now(), lease_until = NULL,
     message_id = $3, recipients = $4, last_error = $5
 WHERE id = $1 AND claim = $2 AND status = 'sending'
 RETURNING status;

-- name: retry
UPDATE notifications
 SET status = CASE WHEN attempts >= $5 THEN 'failed' ELSE 'pending' END,
     next_attempt_at = now() + make_interval(secs => $6),
     last_error = CASE WHEN attempts >= $5 THEN 'gave up after ' || attempts || ' attempts; last: ' || $3
                       ELSE $3 END,
     lease_until = NULL, updated_at = now(), message_id = $4
 WHERE id = $1 AND claim = $2 AND status = 'sending'
 RETURNING status;

-- name: failed
UPDATE notifications
 SET status = 'failed', last_error = $3, lease_until = NULL, updated_at = now(), message_id = $4
 WHERE id = $1 AND claim = $2 AND status = 'sending'
 RETURNING status;
