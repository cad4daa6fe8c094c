-- Named queries of gateway/outbox/webhook/registry.py (gateway.store.queries.load("webhook_registry")).

-- name: list_webhooks
SELECT w.id, w.sigel, w.url, w.state, w.last_error, w.last_success_at, w.last_failure_at, w.created_at,
        (SELECT count(*) FROM webhook_events e WHERE e.webhook_id = w.id AND e.status IN ('pending', 'sending'))
            AS pending,
        (SELECT count(*) FROM webhook_events e WHERE e.webhook_id = w.id AND e.status = 'failed') AS failed
 FROM webhooks w
 WHERE ($1::text IS NULL OR w.sigel = $1) AND ($2::text IS NULL OR w.state = $2) AND ($3::bigint IS NULL OR w.id = $3)
 ORDER BY w.sigel, w.id;

-- name: add_webhook
INSERT INTO webhooks (sigel, url, secret) VALUES ($1, $2, $3) RETURNING id;

-- name: remove_webhook
DELETE FROM webhooks WHERE sigel = $1 AND id = $2;

-- name: retry_failed
UPDATE webhook_events SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
 WHERE webhook_id = $1 AND status = 'failed';
