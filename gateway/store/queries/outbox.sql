-- Named queries of gateway/outbox/queue.py (gateway.store.queries.load("outbox")).

-- name: delivery
SELECT d.id, d.received_at, coalesce(d.finished_at, now()) AS finished_at, s.code, s.name
FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
WHERE d.id = $1;

-- name: delivery_counts
-- The parent is looked up by the primary key, one holding at a time (LATERAL … LIMIT 1 is not
-- flattened into a join): this runs before ANALYZE has seen the delivery, when a plain join was
-- planned for one row a side as a nested loop scanning the whole delivery per holding (quadratic:
-- minutes for 50,000 records). tests/outbox/test_large_delivery.py.
SELECT dr.sigel, dr.outcome, p.outcome AS parent_outcome,
       coalesce(cardinality(p.candidates) > 1, false) AS parent_ambiguous, count(*) AS n
FROM delivery_records dr
JOIN libraries l ON l.sigel = dr.sigel
LEFT JOIN LATERAL (
    SELECT b.outcome, b.candidates FROM delivery_records b
    WHERE b.delivery_id = dr.delivery_id AND b.position = dr.parent_position AND b.kind = 'bib'
    LIMIT 1
) p ON true
WHERE dr.delivery_id = $1 AND dr.kind = 'holding' AND dr.outcome = ANY($2::text[])
GROUP BY dr.sigel, dr.outcome, p.outcome, 4;

-- name: delivery_holdings
SELECT sigel, position, parent_position, outcome, record_id, title, identifiers, errors
FROM (
    SELECT dr.sigel, dr.position, dr.parent_position, dr.outcome, dr.record_id, dr.title,
           NULLIF(dr.identifiers, '{}') AS identifiers,
           CASE WHEN dr.outcome = 'rejected' THEN dr.errors::text END AS errors,
           row_number() OVER (PARTITION BY dr.sigel ORDER BY dr.position) AS nth
    FROM delivery_records dr
    JOIN libraries l ON l.sigel = dr.sigel
    WHERE dr.delivery_id = $1 AND dr.kind = 'holding' AND dr.outcome = ANY($2::text[])
) h
WHERE nth <= $3
ORDER BY position;

-- name: delivery_parents
SELECT position, outcome, record_id, title, identifiers, candidates,
       CASE WHEN outcome = 'rejected' THEN errors::text END AS errors
FROM delivery_records
WHERE delivery_id = $1 AND kind = 'bib' AND position = ANY($2::integer[]);

-- name: delivery_summaries
SELECT id, summary ->> 'title' AS title, summary -> 'creators' ->> 0 AS author,
       summary -> 'isbns' ->> 0 AS isbn, summary -> 'issns' ->> 0 AS issn
FROM bib_records
WHERE id = ANY($1::bigint[]);

-- name: insert_notification
INSERT INTO notifications (kind, sigel, delivery_id, content, item_count, status, last_error)
SELECT 'delivery', l.sigel, $1, x.content::jsonb, x.n,
       CASE WHEN cardinality(l.emails) = 0 THEN 'skipped' WHEN l.digest THEN 'held' ELSE 'pending' END,
       CASE WHEN cardinality(l.emails) = 0 THEN $5::text END
FROM unnest($2::text[], $3::text[], $4::integer[]) AS x (sigel, content, n)
JOIN libraries l ON l.sigel = x.sigel
ON CONFLICT (delivery_id, sigel) WHERE kind = 'delivery' DO NOTHING
RETURNING id;

-- name: held_for_digest
SELECT n.id, n.sigel, n.content::text AS content
FROM notifications n
WHERE n.status = 'held'
  AND (n.created_at AT TIME ZONE $2)::date < (coalesce($1::timestamptz, now()) AT TIME ZONE $2)::date
ORDER BY n.sigel, n.content #>> '{deliveries,0,finished_at}' COLLATE "C",
         (n.content #>> '{deliveries,0,id}')::bigint, n.id
FOR UPDATE;

-- name: insert_digest
INSERT INTO notifications (kind, sigel, content, item_count, status, last_error)
SELECT 'digest', l.sigel, $2::text::jsonb, $3,
       CASE WHEN cardinality(l.emails) = 0 THEN 'skipped' ELSE 'pending' END,
       CASE WHEN cardinality(l.emails) = 0 THEN $4::text END
FROM libraries l WHERE l.sigel = $1
RETURNING id;

-- name: mark_digested
UPDATE notifications SET status = 'digested', digest_id = $2, updated_at = now()
WHERE id = ANY($1::bigint[]);

-- name: list_notifications
SELECT id, kind, sigel, delivery_id, digest_id, status, attempts, resends, item_count,
       next_attempt_at, lease_until, message_id, recipients, last_error, created_at, updated_at, sent_at
FROM notifications
WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
  AND ($2::text IS NULL OR sigel = $2::text)
  AND ($3::bigint IS NULL OR id < $3::bigint)
ORDER BY id DESC
LIMIT $4;

-- name: get_notification
SELECT id, kind, sigel, delivery_id, digest_id, status, attempts, resends, item_count,
       next_attempt_at, lease_until, message_id, recipients, last_error, created_at, updated_at, sent_at,
       content::text AS content_json
FROM notifications WHERE id = $1;

-- name: resend_notification
UPDATE notifications SET
    status = 'pending',
    next_attempt_at = now(),
    lease_until = NULL,
    updated_at = now(),
    attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END,
    resends = resends + CASE WHEN status IN ('sent', 'spooled', 'failed') AND attempts > 0 THEN 1 ELSE 0 END,
    last_error = CASE WHEN status = 'pending' THEN last_error END
WHERE id = $1 AND status <> 'sending'
RETURNING id;

-- name: outgoing
SELECT n.id, n.kind, n.created_at, n.resends, n.content::text AS content,
       l.sigel, l.name, l.language, l.emails
FROM notifications n JOIN libraries l ON l.sigel = n.sigel
WHERE n.id = $1;

-- name: try_digest_lock
SELECT pg_try_advisory_xact_lock($1);

-- name: notification_exists
SELECT true FROM notifications WHERE id = $1;
