-- Queries of the delivery loader. Bulk statements take parallel arrays and unnest them, so a
-- batch of a few hundred records costs a handful of round trips, not several per record. Rows
-- that cannot exist yet (new records, identifiers of new records, new holdings, per-record
-- results) are not here: the loader writes them with binary COPY (gateway/intake/loader.py).
-- OAI datestamps (modified_at, set_datestamp) come from oai_datestamp(), in the column defaults
-- COPY uses too (migration 0015): never now(), which a harvest could skip (docs/oai-pmh.md).

-- name: delivery_meta
SELECT d.id, d.supplier_id, s.code AS supplier_code, d.format, d.charset, d.status, d.record_count
  FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
 WHERE d.id = $1;

-- name: libraries
SELECT l.sigel, l.registered, (c.supplier_id IS NOT NULL) AS customer
  FROM libraries l LEFT JOIN customers c ON c.sigel = l.sigel AND c.supplier_id = $1;

-- name: chunk
SELECT data FROM delivery_chunks WHERE delivery_id = $1 AND seq = $2;

-- name: done_records
SELECT position, kind, supplier_id, record_id, outcome
  FROM delivery_records WHERE delivery_id = $1;

-- name: lock_keys
-- Advisory locks on the batch's keys (sorted by the caller, taken in that order), and $2 fresh
-- ids from the sequence named by $3 in the same round trip, ascending. The lookups that depend on
-- the locks must be statements of their own (a statement's snapshot is taken when it starts).
-- The keys come as one text, separated by U+001F (which no key can hold: XML forbids it and
-- ISO 2709 uses it as the subfield delimiter): a text[] parameter costs the client a type check
-- per element, ~9 µs of the loader's CPU per record pair in these two statements.
SELECT (SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtextextended(k, 7))
                                FROM unnest(string_to_array($1::text, E'\x1f')) WITH ORDINALITY AS t(k, n)
                               ORDER BY n) AS l) AS locked,
       ARRAY(SELECT nextval($3::text::regclass) FROM generate_series(1, $2::int) ORDER BY 1) AS ids;

-- name: candidates
-- One primary-key probe per key (the LATERAL subquery with OFFSET 0 is not flattened into a join):
-- left to itself the planner sorts the whole of bib_identifiers for a merge join while the table
-- is small (50 ms per batch at 40,000 identifiers, growing with the table). The keys ('kind:value',
-- a kind holds no colon) come as lock_keys takes them.
SELECT q.kind, q.value, b.id, b.match_class, b.encoding_level, b.protected, b.created_at
  FROM (SELECT split_part(k, ':', 1) AS kind, substr(k, strpos(k, ':') + 1) AS value
          FROM unnest(string_to_array($1::text, E'\x1f')) AS k) AS q
 CROSS JOIN LATERAL (SELECT i.bib_id FROM bib_identifiers i
                      WHERE i.kind = q.kind AND i.value = q.value OFFSET 0) AS i
  JOIN bib_records b ON b.id = i.bib_id
 WHERE NOT b.deleted;

-- name: lookup_supplier_record
SELECT b.id FROM bib_identifiers i JOIN bib_records b ON b.id = i.bib_id
 WHERE i.kind = 'supplier' AND i.value = $1 AND NOT b.deleted
 ORDER BY b.created_at, b.id LIMIT 1;

-- name: replace_bibs
UPDATE bib_records b
   SET match_class = t.mc, encoding_level = t.el, marcxml = t.x, summary = t.s::jsonb, xml_unsafe = t.u,
       modified_at = oai_datestamp()
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[]) AS t(id, mc, el, x, s, u)
 WHERE b.id = t.id;

-- name: touch_holdings_of
UPDATE holdings SET set_datestamp = oai_datestamp() WHERE bib_id = ANY($1::bigint[]);

-- name: insert_identifiers
INSERT INTO bib_identifiers (kind, value, bib_id)
SELECT kind, value, bib_id FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(kind, value, bib_id)
ON CONFLICT DO NOTHING;

-- name: upsert_bib_suppliers
INSERT INTO bib_suppliers (bib_id, supplier_id)
SELECT DISTINCT bib_id, $2::bigint FROM unnest($1::bigint[]) AS t(bib_id)
ON CONFLICT (supplier_id, bib_id) DO UPDATE SET last_at = now();

-- name: lock_libraries
-- The libraries a batch writes holdings for, locked as a foreign key check would (0005 replaced
-- those per-row checks): removing or renaming one waits for the batch, and a removed one is absent.
SELECT sigel FROM libraries WHERE sigel = ANY($1::text[]) ORDER BY sigel FOR KEY SHARE;

-- name: existing_holdings
-- A probe of UNIQUE (bib_id, sigel) per pair, locked in the order given (as for candidates: a join
-- would hash the whole holdings table while it is small).
SELECT h.id, h.bib_id, h.sigel, h.deleted
  FROM unnest($1::bigint[], $2::text[]) AS q(bib_id, sigel)
 CROSS JOIN LATERAL (SELECT h.id, h.bib_id, h.sigel, h.deleted FROM holdings h
                      WHERE h.bib_id = q.bib_id AND h.sigel = q.sigel FOR UPDATE) AS h;

-- name: update_holdings
UPDATE holdings h
   SET marcxml = t.x, deleted = t.del, xml_unsafe = t.u, supplier_id = $5, modified_at = oai_datestamp(),
       set_datestamp = oai_datestamp()
  FROM unnest($1::bigint[], $2::text[], $3::boolean[], $4::boolean[]) AS t(id, x, del, u)
 WHERE h.id = t.id;

-- name: insert_review_items
INSERT INTO review_items (delivery_id, position, bib_id, candidates, identifiers, reason)
SELECT $1, pos, bib_id, string_to_array(cands, ',')::bigint[], string_to_array(ids, E'\x1f'), reason
  FROM unnest($2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[]) AS t(pos, bib_id, cands, ids, reason)
 WHERE NOT EXISTS (SELECT FROM review_items o  -- the same open question once (0008)
                    WHERE o.bib_id = t.bib_id AND o.resolved_at IS NULL
                      AND o.candidates @> string_to_array(t.cands, ',')::bigint[]
                      AND o.candidates <@ string_to_array(t.cands, ',')::bigint[])
ON CONFLICT (delivery_id, position) DO NOTHING;

-- name: finish
UPDATE deliveries SET status = 'done', finished_at = now(), summary = $2::jsonb, error = NULL
 WHERE id = $1;
