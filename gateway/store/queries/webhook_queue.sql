-- Named queries of gateway/outbox/webhook/queue.py (gateway.store.queries.load("webhook_queue")).

-- name: insert_events
-- A record matched to several candidates: record_outcome 'ambiguous', with what happened on the
-- oldest (attached_as) and every candidate's id and title, as the delivery report says.
INSERT INTO webhook_events (webhook_id, delivery_id, type, content)
 SELECT w.id, $1, $2, c.content
 FROM webhooks w
 JOIN (
     SELECT h.sigel, json_agg(json_build_object(
                'position', coalesce(b.position, h.position),
                'record_id', coalesce(h.record_id, b.record_id)::text,
                'record_outcome', CASE WHEN b.outcome IN ('matched', 'updated') AND cardinality(b.candidates) > 1
                                       THEN 'ambiguous' ELSE b.outcome END,
                'attached_as', CASE WHEN cardinality(b.candidates) > 1 AND b.outcome IN ('matched', 'updated')
                                    THEN b.outcome END,
                'candidates', CASE WHEN cardinality(b.candidates) > 1 AND b.outcome IN ('matched', 'updated')
                                   THEN (SELECT json_agg(json_build_object('record_id', c.id::text,
                                                                           'title', r.summary ->> 'title')
                                                         ORDER BY c.n)
                                           FROM unnest(b.candidates) WITH ORDINALITY AS c (id, n)
                                           LEFT JOIN bib_records r ON r.id = c.id) END,
                'holding_position', h.position,
                'holding_id', h.holding_id::text,
                'holding_outcome', h.outcome) ORDER BY h.position)::text AS content
     FROM delivery_records h
     LEFT JOIN LATERAL (  -- by the primary key per holding, however stale the statistics (see outbox.sql)
         SELECT p.position, p.record_id, p.outcome, p.candidates FROM delivery_records p
         WHERE p.delivery_id = h.delivery_id AND p.position = h.parent_position AND p.kind = 'bib'
         LIMIT 1
     ) b ON true
     WHERE h.delivery_id = $1 AND h.kind = 'holding' AND h.sigel IS NOT NULL AND h.outcome = ANY($3::text[])
       AND h.sigel IN (SELECT sigel FROM webhooks)
     GROUP BY h.sigel
 ) c ON c.sigel = w.sigel
 ON CONFLICT (delivery_id, webhook_id, type) DO NOTHING
 RETURNING id;

-- name: any_webhook
SELECT EXISTS (SELECT FROM webhooks);
