-- Queries of the review actions (gateway/intake/review.py, review_moves.py) and of a record's
-- provenance (gateway/intake/provenance.py). Datestamps: a change a harvester must see sets
-- modified_at / set_datestamp from oai_datestamp() as the loader does (gateway/store/queries/loader.sql).

-- name: items
SELECT r.id, r.delivery_id, r.position, r.bib_id, r.candidates, r.identifiers, r.reason,
       r.created_at, r.resolved_at, r.resolved_by, r.resolution, s.code AS supplier, dr.title, dr.outcome
  FROM review_items r
  JOIN deliveries d ON d.id = r.delivery_id
  JOIN suppliers s ON s.id = d.supplier_id
  LEFT JOIN delivery_records dr ON dr.delivery_id = r.delivery_id AND dr.position = r.position
 WHERE ($1::bigint IS NULL OR r.id = $1) AND ($2 OR r.resolved_at IS NULL)
 ORDER BY r.id

-- name: lock_item
SELECT r.id, r.delivery_id, r.position, r.bib_id, r.candidates, r.identifiers, r.resolved_at,
       d.supplier_id, s.code AS supplier
  FROM review_items r
  JOIN deliveries d ON d.id = r.delivery_id
  JOIN suppliers s ON s.id = d.supplier_id
 WHERE r.id = $1
   FOR UPDATE OF r

-- name: close_item
UPDATE review_items SET resolved_at = now(), resolved_by = $2, resolution = $3::jsonb
 WHERE id = $1
RETURNING resolved_at

-- name: lock_keys
-- Advisory locks as the loader takes them (gateway/store/queries/loader.sql, lock_keys), sorted
-- by the caller: identifier keys "kind:value" first, then "bib:ID" keys, so a batch that would
-- match or attach holdings to these records waits for the action (and the action for it).
SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtextextended(k, 7))
                        FROM unnest($1::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n) AS l

-- name: identifier_keys
SELECT DISTINCT kind || ':' || value AS key FROM bib_identifiers WHERE bib_id = ANY($1::bigint[])

-- name: lock_records
SELECT id, deleted, protected, merged_into, match_class, supplier_id
  FROM bib_records WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE

-- name: incoming_holdings
-- The holdings the item's incoming record brought: the record's holdings now (a merge may have
-- moved them to it) for the libraries the delivery's holdings under the incoming record named.
SELECT h.id, h.bib_id, h.sigel, h.marcxml, h.deleted, h.supplier_id, h.xml_unsafe
  FROM holdings h
 WHERE h.bib_id = $3
   AND h.sigel IN (SELECT r.sigel FROM delivery_records r
                    WHERE r.delivery_id = $1 AND r.kind = 'holding' AND r.parent_position = $2
                      AND r.outcome IN ('added', 'updated'))
 ORDER BY h.sigel
   FOR UPDATE

-- name: record_holdings
SELECT id, bib_id, sigel, marcxml, deleted, supplier_id, xml_unsafe
  FROM holdings WHERE bib_id = $1 ORDER BY sigel FOR UPDATE

-- name: target_holding
SELECT id, deleted FROM holdings WHERE bib_id = $1 AND sigel = $2 FOR UPDATE

-- name: insert_holding
INSERT INTO holdings (id, bib_id, sigel, marcxml, deleted, supplier_id, xml_unsafe)
VALUES ($1, $2, $3, $4, $5, $6, $7)

-- name: overwrite_holding
UPDATE holdings SET marcxml = $2, deleted = $3, supplier_id = $4, modified_at = oai_datestamp(), set_datestamp = oai_datestamp()
 WHERE id = $1

-- name: tombstone_holding
-- A holding that moved away: deleted in hold:SIGEL, and its record deleted in bib:SIGEL.
UPDATE holdings SET deleted = true, modified_at = oai_datestamp(), set_datestamp = oai_datestamp() WHERE id = $1

-- name: touch_holding
UPDATE holdings SET set_datestamp = oai_datestamp() WHERE id = $1

-- name: touch_record
-- The record is in new sets or holds new holdings: a new datestamp everywhere it is.
WITH b AS (UPDATE bib_records SET modified_at = oai_datestamp() WHERE id = $1 RETURNING id)
UPDATE holdings SET set_datestamp = oai_datestamp() WHERE bib_id = $1

-- name: next_holding_id
SELECT nextval('holding_id_seq')

-- name: next_bib_id
SELECT nextval('bib_id_seq')

-- name: add_identifiers
INSERT INTO bib_identifiers (kind, value, bib_id)
SELECT kind, value, $3 FROM unnest($1::text[], $2::text[]) AS t(kind, value)
ON CONFLICT DO NOTHING

-- name: remove_identifiers
DELETE FROM bib_identifiers i
 USING unnest($1::text[], $2::text[]) AS t(kind, value)
 WHERE i.bib_id = $3 AND i.kind = t.kind AND i.value = t.value

-- name: move_all_identifiers
WITH moved AS (DELETE FROM bib_identifiers WHERE bib_id = $1 RETURNING kind, value)
INSERT INTO bib_identifiers (kind, value, bib_id) SELECT kind, value, $2 FROM moved
ON CONFLICT DO NOTHING

-- name: add_supplier
INSERT INTO bib_suppliers (bib_id, supplier_id) VALUES ($1, $2)
ON CONFLICT (supplier_id, bib_id) DO UPDATE SET last_at = now()

-- name: copy_suppliers
INSERT INTO bib_suppliers (bib_id, supplier_id, first_at, last_at)
SELECT $2, supplier_id, first_at, last_at FROM bib_suppliers WHERE bib_id = $1
ON CONFLICT (supplier_id, bib_id) DO UPDATE
   SET first_at = least(bib_suppliers.first_at, excluded.first_at),
       last_at = greatest(bib_suppliers.last_at, excluded.last_at)

-- name: insert_record
INSERT INTO bib_records (id, match_class, encoding_level, marcxml, summary, supplier_id, xml_unsafe)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)

-- name: merge_away
UPDATE bib_records SET deleted = true, merged_into = $2, modified_at = oai_datestamp() WHERE id = $1

-- name: redirect_merged
-- Records merged into the one merged away now name the survivor (no chains to follow).
UPDATE bib_records SET merged_into = $2 WHERE merged_into = $1

-- name: repoint_open_items
-- Other open questions naming a record merged away now name the survivor instead.
UPDATE review_items r
   SET bib_id = CASE WHEN r.bib_id = $1 THEN $2 ELSE r.bib_id END,
       candidates = ARRAY(SELECT DISTINCT c FROM unnest(array_replace(r.candidates, $1, $2)) AS c ORDER BY c)
 WHERE r.resolved_at IS NULL AND r.id <> $3 AND (r.bib_id = $1 OR $1 = ANY(r.candidates))
RETURNING r.id, cardinality(r.candidates) AS left

-- name: event
INSERT INTO record_events (bib_id, actor, action, review_item_id, detail) VALUES ($1, $2, $3, $4, $5::jsonb)

-- name: delivery_meta
SELECT d.format, d.charset, s.code AS supplier_code
  FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id WHERE d.id = $1

-- name: chunk
SELECT data FROM delivery_chunks WHERE delivery_id = $1 AND seq = $2

-- name: summaries
SELECT id, summary, encoding_level, protected, deleted, merged_into FROM bib_records WHERE id = ANY($1::bigint[])

-- name: record
SELECT b.id, b.match_class, b.encoding_level, b.protected, b.deleted, b.merged_into, b.summary, b.marcxml,
       b.created_at, b.modified_at, s.code AS supplier
  FROM bib_records b LEFT JOIN suppliers s ON s.id = b.supplier_id
 WHERE b.id = $1

-- name: record_identifiers
SELECT kind, value FROM bib_identifiers WHERE bib_id = $1 ORDER BY kind, value

-- name: record_suppliers
SELECT s.code, bs.first_at, bs.last_at
  FROM bib_suppliers bs JOIN suppliers s ON s.id = bs.supplier_id
 WHERE bs.bib_id = $1 ORDER BY bs.first_at, s.code

-- name: holdings_of
SELECT h.id, h.sigel, h.deleted, h.created_at, h.modified_at, s.code AS supplier, l.name AS library
  FROM holdings h
  LEFT JOIN suppliers s ON s.id = h.supplier_id
  LEFT JOIN libraries l ON l.sigel = h.sigel
 WHERE h.bib_id = $1
 ORDER BY h.sigel

-- name: provenance_deliveries
-- Each delivery that created, matched or updated the record or a record merged into it.
SELECT r.record_id, r.delivery_id, r.position, r.outcome, r.candidates, r.title,
       coalesce(d.finished_at, d.started_at, d.received_at) AS at, s.code AS supplier
  FROM delivery_records r
  JOIN deliveries d ON d.id = r.delivery_id
  JOIN suppliers s ON s.id = d.supplier_id
 WHERE r.kind = 'bib' AND r.record_id IS NOT NULL  -- the partial index of migration 0010
   AND r.outcome IN ('created', 'matched', 'updated')
   AND r.record_id IN (SELECT $1::bigint UNION ALL SELECT id FROM bib_records WHERE merged_into = $1)

-- name: provenance_events
SELECT e.id, e.bib_id, e.at, e.actor, e.action, e.review_item_id, e.detail
  FROM record_events e
 WHERE e.bib_id = $1

-- name: merged_from
SELECT id FROM bib_records WHERE merged_into = $1 ORDER BY id

-- name: record_exists
SELECT true FROM bib_records WHERE id = $1;
