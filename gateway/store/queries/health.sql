-- Named queries of gateway/ops/health.py (gateway.store.queries.load("health")).

-- name: ping
SELECT 1;

-- name: schema_versions
SELECT coalesce(array_agg(version ORDER BY version), '{}'::int[]) FROM schema_migrations;

-- name: alive_duties
SELECT count(*) FILTER (WHERE 'load' = ANY (duties)) AS loaders,
       count(*) FILTER (WHERE 'send' = ANY (duties)) AS senders
  FROM processes
 WHERE expires_at >= now() AND NOT stopping;

-- name: outbox_stuck
-- Due for longer than $1 seconds and nobody took it, or a lease $1 seconds past its end: no
-- sender is working on the outbox. Each count goes through its table's partial index.
SELECT (SELECT count(*) FROM notifications
         WHERE status = 'pending' AND next_attempt_at < now() - make_interval(secs => $1))
     + (SELECT count(*) FROM notifications
         WHERE status = 'sending' AND lease_until < now() - make_interval(secs => $1)) AS mail,
       (SELECT count(*) FROM webhook_events
         WHERE status = 'pending' AND next_attempt_at < now() - make_interval(secs => $1))
     + (SELECT count(*) FROM webhook_events
         WHERE status = 'sending' AND lease_until < now() - make_interval(secs => $1)) AS webhooks;
