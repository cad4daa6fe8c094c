-- Queries of the staff console (gateway/console) that no API had. Every value is a parameter.
-- Scope parameters: a supplier id (the supplier's own deliveries and records) and a sigel (what
-- concerns that library); NULL for the admin, who sees everything.

-- name: session_insert
INSERT INTO console_sessions (id_hash, role, admin_token_hash, supplier_token_id, library_token_id, expires_at)
VALUES ($1, $2, $3,
        (SELECT id FROM supplier_tokens WHERE token_hash = $4 AND revoked_at IS NULL),
        $5, now() + make_interval(secs => $6))
RETURNING expires_at;

-- name: session_load
SELECT s.role, s.admin_token_hash, s.expires_at,
       sp.id AS supplier_id, sp.code AS supplier_code, sp.name AS supplier_name,
       l.sigel, l.name AS library_name
  FROM console_sessions s
  LEFT JOIN supplier_tokens st ON st.id = s.supplier_token_id AND st.revoked_at IS NULL
  LEFT JOIN suppliers sp ON sp.id = st.supplier_id
  LEFT JOIN library_tokens lt ON lt.id = s.library_token_id AND lt.revoked_at IS NULL
  LEFT JOIN libraries l ON l.sigel = lt.sigel
 WHERE s.id_hash = $1 AND s.expires_at > now();

-- name: session_delete
DELETE FROM console_sessions WHERE id_hash = $1;

-- name: sessions_expired_delete
DELETE FROM console_sessions WHERE expires_at <= now();

-- name: overview_deliveries
SELECT s.code AS supplier, d.status, count(*) AS n,
       coalesce(sum((d.summary ->> 'records')::bigint), 0) AS records,
       coalesce(sum((d.summary ->> 'created')::bigint), 0) AS created,
       coalesce(sum((d.summary ->> 'matched')::bigint + (d.summary ->> 'updated')::bigint), 0) AS matched,
       coalesce(sum((d.summary ->> 'ambiguous')::bigint), 0) AS ambiguous,
       coalesce(sum((d.summary ->> 'rejected')::bigint), 0) AS rejected
  FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
 WHERE d.received_at >= $1 AND ($2::bigint IS NULL OR d.supplier_id = $2)
   AND ($3::text IS NULL OR EXISTS (SELECT FROM delivery_records r WHERE r.delivery_id = d.id AND r.sigel = $3))
 GROUP BY s.code, d.status
 ORDER BY s.code, d.status;

-- name: overview_holdings
SELECT count(*) FILTER (WHERE r.outcome = 'added')    AS added,
       count(*) FILTER (WHERE r.outcome = 'updated')  AS updated,
       count(*) FILTER (WHERE r.outcome = 'deleted')  AS deleted,
       count(*) FILTER (WHERE r.outcome = 'rejected') AS rejected
  FROM deliveries d JOIN delivery_records r ON r.delivery_id = d.id AND r.sigel = $2
 WHERE d.received_at >= $1 AND r.kind = 'holding';

-- name: overview_review_open
SELECT count(*) FROM review_items WHERE resolved_at IS NULL;

-- name: overview_mail
SELECT status, count(*) AS n FROM notifications
 WHERE status IN ('pending', 'sending', 'failed', 'skipped') AND ($1::text IS NULL OR sigel = $1)
 GROUP BY status;

-- name: overview_oldest_waiting
SELECT d.id, s.code AS supplier, d.status, d.received_at, d.record_count
  FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
 WHERE d.status IN ('received', 'processing') AND ($1::bigint IS NULL OR d.supplier_id = $1)
 ORDER BY d.id LIMIT 1;

-- name: overview_harvests
SELECT l.sigel, l.name,
       max(h.last_at) FILTER (WHERE h.set_spec LIKE 'bib:%')  AS bib_at,
       max(h.last_at) FILTER (WHERE h.set_spec LIKE 'hold:%') AS hold_at
  FROM libraries l LEFT JOIN oai_harvests h ON h.sigel = l.sigel
 WHERE $1::text IS NULL OR l.sigel = $1
 GROUP BY l.sigel, l.name ORDER BY l.sigel;

-- name: delivery_visible
SELECT true FROM deliveries d
 WHERE d.id = $1 AND ($2::bigint IS NULL OR d.supplier_id = $2)
   AND ($3::text IS NULL OR EXISTS (SELECT FROM delivery_records r WHERE r.delivery_id = d.id AND r.sigel = $3));

-- name: delivery_progress
-- Records done: the furthest position reported (batches are written in file order, so this is one
-- probe at the end of the primary key instead of a count of every row a loading page polls for).
SELECT d.status, d.record_count, d.error,
       CASE WHEN d.status = 'done' THEN d.record_count
            ELSE coalesce((SELECT r.position FROM delivery_records r WHERE r.delivery_id = d.id
                            ORDER BY r.position DESC LIMIT 1), 0) END AS done
  FROM deliveries d WHERE d.id = $1;

-- name: delivery_rows
-- A page of a delivery's records in file order, unfiltered: walks the primary key and stops.
SELECT r.position, r.kind, r.parent_position, r.supplier_id, r.identifiers, r.outcome, r.record_id,
       r.holding_id, r.sigel, r.candidates, r.title, r.errors, r.warnings
  FROM delivery_records r
 WHERE r.delivery_id = $1 AND r.position > $2
 ORDER BY r.position
 LIMIT $3;

-- name: delivery_rows_filtered
-- The same, only one outcome ($3, as reported: a match with several candidates is 'ambiguous', not
-- 'matched' or 'updated'; or 'problems' = with errors or warnings) and/or
-- only what concerns a sigel ($4: its holdings and the records they belong to).
SELECT r.position, r.kind, r.parent_position, r.supplier_id, r.identifiers, r.outcome, r.record_id,
       r.holding_id, r.sigel, r.candidates, r.title, r.errors, r.warnings
  FROM delivery_records r
 WHERE r.delivery_id = $1 AND r.position > $2
   AND ($3::text IS NULL OR (r.outcome = $3 AND cardinality(r.candidates) <= 1)
        OR ($3 = 'ambiguous' AND r.kind = 'bib' AND r.outcome IN ('matched', 'updated')
            AND cardinality(r.candidates) > 1)
        OR ($3 = 'problems' AND (r.errors <> '[]'::jsonb OR r.warnings <> '[]'::jsonb)))
   AND ($4::text IS NULL OR r.sigel = $4
        OR r.position IN (SELECT h.parent_position FROM delivery_records h
                           WHERE h.delivery_id = $1 AND h.sigel = $4 AND h.parent_position IS NOT NULL))
 ORDER BY r.position
 LIMIT $5;

-- name: delivery_sigel_summary
-- What a delivery did for one library: its holdings by outcome.
SELECT count(*) FILTER (WHERE outcome = 'added')    AS holdings_added,
       count(*) FILTER (WHERE outcome = 'updated')  AS holdings_updated,
       count(*) FILTER (WHERE outcome = 'deleted')  AS holdings_deleted,
       count(*) FILTER (WHERE outcome = 'rejected') AS holdings_rejected
  FROM delivery_records WHERE delivery_id = $1 AND sigel = $2 AND kind = 'holding';

-- name: delivery_payload
SELECT data FROM delivery_chunks WHERE delivery_id = $1 ORDER BY seq;

-- name: delivery_format
SELECT format FROM deliveries WHERE id = $1;

-- name: record_visible
SELECT true FROM bib_records b
 WHERE b.id = $1
   AND ($2::bigint IS NULL OR EXISTS (SELECT FROM bib_suppliers s WHERE s.bib_id = b.id AND s.supplier_id = $2))
   AND ($3::text IS NULL OR EXISTS (SELECT FROM holdings h WHERE h.bib_id = b.id AND h.sigel = $3));

-- name: record_get
SELECT b.id, b.marcxml, b.summary, b.protected, b.encoding_level, b.match_class, b.deleted, b.merged_into,
       b.created_at, b.modified_at, s.code AS supplier
  FROM bib_records b LEFT JOIN suppliers s ON s.id = b.supplier_id
 WHERE b.id = $1;

-- name: record_identifiers
SELECT kind, value FROM bib_identifiers WHERE bib_id = $1 ORDER BY kind, value;

-- name: record_holdings
SELECT h.id, h.sigel, l.name AS library, s.code AS supplier, h.marcxml, h.created_at, h.modified_at, h.deleted
  FROM holdings h JOIN libraries l ON l.sigel = h.sigel LEFT JOIN suppliers s ON s.id = h.supplier_id
 WHERE h.bib_id = $1 AND ($2::bigint IS NULL OR h.supplier_id = $2) AND ($3::text IS NULL OR h.sigel = $3)
 ORDER BY h.sigel;
