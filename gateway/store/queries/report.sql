-- Named queries of gateway/intake/report.py (gateway.store.queries.load("report")).

-- name: summary
-- The bibliographic counts partition the records: a match with several candidates counts as
-- ambiguous only (not also as matched or updated).
SELECT count(*) FILTER (WHERE kind = 'bib')                               AS records,
      count(*) FILTER (WHERE kind = 'bib' AND outcome = 'created')       AS created,
      count(*) FILTER (WHERE kind = 'bib' AND outcome = 'matched'
                         AND cardinality(candidates) <= 1)               AS matched,
      count(*) FILTER (WHERE kind = 'bib' AND outcome = 'updated'
                         AND cardinality(candidates) <= 1)               AS updated,
      count(*) FILTER (WHERE kind = 'bib' AND outcome IN ('matched', 'updated')
                         AND cardinality(candidates) > 1)                AS ambiguous,
      count(*) FILTER (WHERE kind = 'bib' AND outcome = 'rejected')      AS rejected,
      count(*) FILTER (WHERE kind = 'holding' AND outcome = 'added')     AS holdings_added,
      count(*) FILTER (WHERE kind = 'holding' AND outcome = 'updated')   AS holdings_updated,
      count(*) FILTER (WHERE kind = 'holding' AND outcome = 'deleted')   AS holdings_deleted,
      count(*) FILTER (WHERE kind = 'holding' AND outcome = 'rejected')  AS holdings_rejected
 FROM delivery_records WHERE delivery_id = $1;

-- name: delivery_header
SELECT d.id, d.status, s.code AS supplier, d.received_at, d.started_at, d.finished_at,
       d.record_count, d.size, d.format, d.summary, d.error, d.source,
       d.file::text AS file, d.payload_pruned_at, d.results_pruned_at
  FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
 WHERE d.id = $1 AND ($2::bigint IS NULL OR d.supplier_id = $2);

-- name: entries
-- A record matched to several candidates is reported as `ambiguous`, with every candidate's id and
-- current title (`candidate_records`, oldest first: the first is `record_id`, where it went) and
-- what happened there (`attached_as`: matched or updated); "holdings" stays the last member.
SELECT r.kind = 'bib' AS bib, r.position, r.parent_position AS parent,
       CASE WHEN r.kind = 'bib' AND r.outcome IN ('matched', 'updated') AND cardinality(r.candidates) > 1
            THEN left(json_build_object(
                'position', r.position, 'type', 'bibliographic', 'supplier_id', r.supplier_id,
                'identifiers', r.identifiers, 'outcome', 'ambiguous', 'record_id', r.record_id::text,
                'candidates', r.candidates::text[], 'title', r.title, 'errors', r.errors,
                'warnings', r.warnings, 'attached_as', r.outcome,
                'candidate_records', (SELECT json_agg(json_build_object('record_id', c.id::text,
                                                                        'title', b.summary ->> 'title')
                                                      ORDER BY c.n)
                                        FROM unnest(r.candidates) WITH ORDINALITY AS c (id, n)
                                        LEFT JOIN bib_records b ON b.id = c.id),
                'holdings', '[]'::json)::text, -2)
            WHEN r.kind = 'bib' THEN left(json_build_object(
                'position', r.position, 'type', 'bibliographic', 'supplier_id', r.supplier_id,
                'identifiers', r.identifiers, 'outcome', r.outcome, 'record_id', r.record_id::text,
                'candidates', r.candidates::text[], 'title', r.title, 'errors', r.errors,
                'warnings', r.warnings, 'holdings', '[]'::json)::text, -2)
            WHEN EXISTS (SELECT FROM delivery_records b WHERE b.delivery_id = $1
                                                          AND b.position = r.parent_position
                                                          AND b.kind = 'bib')
            THEN json_build_object(
                'position', r.position, 'sigel', r.sigel, 'outcome', r.outcome,
                'holding_id', r.holding_id::text, 'errors', r.errors, 'warnings', r.warnings)::text
            ELSE json_build_object(
                'position', r.position, 'type', 'holdings', 'supplier_id', r.supplier_id,
                'outcome', r.outcome, 'record_id', r.record_id::text, 'errors', r.errors,
                'warnings', '[]'::json, 'holdings', json_build_array(json_build_object(
                    'position', r.position, 'sigel', r.sigel, 'outcome', r.outcome,
                    'holding_id', r.holding_id::text, 'errors', r.errors, 'warnings', r.warnings)))::text
       END AS json
  FROM delivery_records r WHERE r.delivery_id = $1
 ORDER BY coalesce(r.parent_position, r.position), r.kind = 'holding', r.position;

-- name: candidate_titles
SELECT id, summary ->> 'title' AS title FROM bib_records WHERE id = ANY($1::bigint[]);

-- name: listing
SELECT d.id, d.status, s.code AS supplier, d.received_at, d.finished_at, d.record_count, d.summary
  FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
 WHERE ($1::bigint IS NULL OR d.supplier_id = $1) AND ($2::bigint IS NULL OR d.id < $2)
   AND ($4::text IS NULL OR d.status = $4) AND ($5::text IS NULL OR s.code = $5)
   AND ($6::timestamptz IS NULL OR d.received_at >= $6)
   AND ($7::timestamptz IS NULL OR d.received_at < $7)
   AND ($8::text IS NULL OR EXISTS (SELECT FROM delivery_records r
                                     WHERE r.delivery_id = d.id AND r.sigel = $8))
 ORDER BY d.id DESC LIMIT $3;
