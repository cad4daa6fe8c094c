-- Named queries of gateway/outbox/webhook/sender.py (gateway.store.queries.load("webhook_sender")).

-- name: claim
WITH expired AS (
     SELECT id FROM webhook_events
     WHERE status = 'sending' AND lease_until < now()
     ORDER BY lease_until, id LIMIT 1 FOR UPDATE SKIP LOCKED
 ), due AS (
     SELECT id FROM webhook_events
     WHERE status = 'pending' AND next_attempt_at <= now()
     ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
 ), pick AS (
     (SELECT id FROM expired) UNION ALL (SELECT id FROM due) LIMIT 1
 ), info AS (
     SELECT e.id, w.id AS webhook_id, w.sigel, w.url, w.secret, d.received_at, d.finished_at,
            s.code AS supplier_code, s.name AS supplier_name
     FROM pick JOIN webhook_events e ON e.id = pick.id JOIN webhooks w ON w.id = e.webhook_id
     LEFT JOIN deliveries d ON d.id = e.delivery_id LEFT JOIN suppliers s ON s.id = d.supplier_id
 )
 UPDATE webhook_events e
 SET status = 'sending', claim = $1, lease_until = now() + make_interval(secs => $2),
     attempts = e.attempts + 1, updated_at = now()
 FROM info
 WHERE e.id = info.id
 RETURNING e.id, e.event_id, e.type, e.created_at, e.content, e.attempts, e.delivery_id, info.webhook_id,
           info.sigel, info.url, info.secret, info.received_at, info.finished_at, info.supplier_code,
           info.supplier_name;

-- name: sent
WITH done AS (
     UPDATE webhook_events SET status = 'sent', sent_at = now(), updated_at = now(), lease_until = NULL,
                               last_status = $3, last_error = NULL
     WHERE id = $1 AND claim = $2 AND status = 'sending'
     RETURNING webhook_id
 )
 UPDATE webhooks w SET state = 'active', last_success_at = now()
 FROM done WHERE w.id = done.webhook_id
 RETURNING w.id;

-- name: retry
WITH done AS (
     UPDATE webhook_events
     SET status = CASE WHEN attempts >= $5 THEN 'failed' ELSE 'pending' END,
         next_attempt_at = now() + make_interval(secs => $6),
         last_error = CASE WHEN attempts >= $5 THEN 'gave up after ' || attempts || ' attempts; last: ' || $3
                           ELSE $3 END,
         last_status = $4, lease_until = NULL, updated_at = now()
     WHERE id = $1 AND claim = $2 AND status = 'sending'
     RETURNING webhook_id, status, last_error
 )
 UPDATE webhooks w SET state = CASE WHEN done.status = 'failed' THEN 'failing' ELSE w.state END,
                       last_error = done.last_error, last_failure_at = now()
 FROM done WHERE w.id = done.webhook_id
 RETURNING done.status;

-- name: failed
WITH done AS (
     UPDATE webhook_events SET status = 'failed', last_error = $3, last_status = $4, lease_until = NULL,
                               updated_at = now()
     WHERE id = $1 AND claim = $2 AND status = 'sending'
     RETURNING webhook_id, last_error
 )
 UPDATE webhooks w SET state = 'failing', last_error = done.last_error, last_failure_at = now()
 FROM done WHERE w.id = done.webhook_id
 RETURNING 'failed';
