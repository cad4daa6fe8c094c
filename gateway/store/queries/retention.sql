-- Named queries of gateway/intake/retention.py (gateway.store.queries.load("retention")).
-- The rows a record's provenance reads (gateway/store/queries/review.sql, provenance_deliveries:
-- bibliographic rows that created, matched or updated a record) are never removed.

-- name: unfinished
-- Deliveries a stopped prune marked but did not finish.
SELECT d.id, s.code AS supplier, d.finished_at, false AS no_summary,
       d.payload_pruned_at IS NOT NULL AS payload, d.results_pruned_at IS NOT NULL AS results
  FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
 WHERE d.pruning
 ORDER BY d.id

-- name: candidates
-- Finished deliveries with something older than a cutoff ($1 payloads, $2 results; NULL: keep)
-- still there, none of whose review items is open and none of whose notifications or webhook
-- events is still to be sent; a page of them after id $3.
SELECT d.id, s.code AS supplier, d.finished_at, d.summary IS NULL AS no_summary,
       ($1::timestamptz IS NOT NULL AND d.payload_pruned_at IS NULL AND d.finished_at < $1) AS payload,
       ($2::timestamptz IS NOT NULL AND d.results_pruned_at IS NULL AND d.finished_at < $2) AS results
  FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
 WHERE d.status IN ('done', 'failed') AND NOT d.pruning AND d.id > $3
   AND (($1::timestamptz IS NOT NULL AND d.payload_pruned_at IS NULL AND d.finished_at < $1)
        OR ($2::timestamptz IS NOT NULL AND d.results_pruned_at IS NULL AND d.finished_at < $2))
   AND NOT EXISTS (SELECT FROM review_items r WHERE r.delivery_id = d.id AND r.resolved_at IS NULL)
   AND NOT EXISTS (SELECT FROM notifications n WHERE n.kind = 'delivery' AND n.delivery_id = d.id
                                                 AND n.status IN ('held', 'pending', 'sending'))
   AND NOT EXISTS (SELECT FROM webhook_events w WHERE w.delivery_id = d.id AND w.status IN ('pending', 'sending'))
 ORDER BY d.id
 LIMIT $4

-- name: mark
-- Marks what will be removed (and keeps the summary, counted now if the row has none), checking
-- again under the row lock that the delivery is finished and nothing open needs it.
UPDATE deliveries d
   SET pruning = true,
       payload_pruned_at = CASE WHEN $2 THEN coalesce(d.payload_pruned_at, now()) ELSE d.payload_pruned_at END,
       results_pruned_at = CASE WHEN $3 THEN coalesce(d.results_pruned_at, now()) ELSE d.results_pruned_at END,
       summary = coalesce(d.summary, $4::text::jsonb)
 WHERE d.id = $1 AND d.status IN ('done', 'failed') AND NOT d.pruning
   AND NOT EXISTS (SELECT FROM review_items r WHERE r.delivery_id = d.id AND r.resolved_at IS NULL)
   AND NOT EXISTS (SELECT FROM notifications n WHERE n.kind = 'delivery' AND n.delivery_id = d.id
                                                 AND n.status IN ('held', 'pending', 'sending'))
   AND NOT EXISTS (SELECT FROM webhook_events w WHERE w.delivery_id = d.id AND w.status IN ('pending', 'sending'))
RETURNING d.id

-- name: done
UPDATE deliveries SET pruning = false WHERE id = $1

-- name: payload_size
-- Stored bytes (after PostgreSQL's compression) of a delivery's payload.
SELECT count(*) AS n, coalesce(sum(pg_column_size(data)), 0)::bigint AS bytes
  FROM delivery_chunks WHERE delivery_id = $1

-- name: results_size
-- Per-record rows that a prune removes (all but those provenance reads) and the stored bytes it
-- frees: those rows, and the values strip_results empties in the rows kept.
SELECT count(*) FILTER (WHERE NOT p.kept) AS n,
       coalesce(sum(CASE WHEN p.kept
                         THEN pg_column_size(r.identifiers) + pg_column_size(r.warnings)
                              + pg_column_size(r.errors) + coalesce(pg_column_size(r.supplier_id), 0)
                         ELSE pg_column_size(r.*) END), 0)::bigint AS bytes
  FROM delivery_records r
 CROSS JOIN LATERAL (SELECT r.kind = 'bib' AND r.record_id IS NOT NULL
                            AND r.outcome IN ('created', 'matched', 'updated') AS kept) p
 WHERE r.delivery_id = $1

-- name: delete_chunks
-- The first $2 chunks still there.
WITH gone AS (
    DELETE FROM delivery_chunks
     WHERE delivery_id = $1
       AND seq IN (SELECT seq FROM delivery_chunks WHERE delivery_id = $1 ORDER BY seq LIMIT $2)
    RETURNING pg_column_size(data) AS bytes
)
SELECT count(*) AS n, coalesce(sum(bytes), 0)::bigint AS bytes FROM gone

-- name: last_position
SELECT max(position) FROM delivery_records WHERE delivery_id = $1

-- name: delete_results
-- Positions $2 <= position < $3, but for the rows a record's provenance reads.
WITH gone AS (
    DELETE FROM delivery_records r
     WHERE r.delivery_id = $1 AND r.position >= $2 AND r.position < $3
       AND NOT (r.kind = 'bib' AND r.record_id IS NOT NULL AND r.outcome IN ('created', 'matched', 'updated'))
    RETURNING pg_column_size(r.*) AS bytes
)
SELECT count(*) AS n, coalesce(sum(bytes), 0)::bigint AS bytes FROM gone

-- name: strip_results
-- The rows provenance reads keep what it reads (outcome, record, candidates, title); what only the
-- report showed (identifiers as sent, the supplier's 001, warnings) goes. Stored bytes before.
WITH kept AS (
    SELECT r.position, pg_column_size(r.identifiers) + pg_column_size(r.warnings) + pg_column_size(r.errors)
                       + coalesce(pg_column_size(r.supplier_id), 0) AS bytes
      FROM delivery_records r
     WHERE r.delivery_id = $1 AND r.position >= $2 AND r.position < $3
       AND r.kind = 'bib' AND r.record_id IS NOT NULL AND r.outcome IN ('created', 'matched', 'updated')
       AND (r.identifiers <> '{}' OR r.warnings <> '[]' OR r.errors <> '[]' OR r.supplier_id IS NOT NULL)
       FOR UPDATE
), stripped AS (
    UPDATE delivery_records r
       SET identifiers = '{}', warnings = '[]', errors = '[]', supplier_id = NULL
      FROM kept k
     WHERE r.delivery_id = $1 AND r.position = k.position
    RETURNING k.bytes
)
SELECT count(*) AS n, coalesce(sum(bytes), 0)::bigint AS bytes FROM stripped
