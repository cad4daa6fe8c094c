-- Förvärv Gateway: the search index behind SRU/CQL (gateway/search, protocols/sru).
--
-- Everything here is derived from bib_records (summary jsonb, encoding level) and rewritten by
-- statement-level triggers in the same transaction as the records, so a committed record is
-- searchable at once and a deleted one is gone at once. Deleted records have no rows here at
-- all: searching never has to look at the wide bib_records rows until the page of records to
-- return is known.
--
-- Built to cost intake as little as possible per written record: each value is folded once,
-- one weighted word vector behind one GIN index, one btree on the title key (the only derived
-- column a query looks up by range), one narrow row per distinct creator or subject for scan and
-- exact matching, and no foreign keys (their per-row checks lock the bib_records rows; the
-- triggers below keep the rows in step instead). The modification time is not copied: queries
-- on it read bib_records (its datestamp index), so an update that leaves the summary, encoding
-- level and deleted flag alone does not touch the index at all.
--
-- Folding: NFC, unaccent, lower case, combining marks dropped, everything that is not a letter
-- or digit becomes a single space. Index and query go through the same function, so "Malmo"
-- finds "Malmö" and a decomposed (NFD) record is found by a precomposed query and vice versa.

-- The folding used for words, keys and scan terms. IMMUTABLE on purpose (the unaccent rules are
-- part of the installation); the SQL-standard body binds unaccent and its dictionary at creation
-- time, so search_path does not matter when indexes or triggers evaluate it. normalize() is the
-- costliest step and changes nothing below U+0300, so it runs only on text beyond that.
CREATE FUNCTION search_fold(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN btrim(regexp_replace(
        regexp_replace(lower(unaccent('unaccent'::regdictionary,
                                      CASE WHEN value ~ '[^\x01-\u02ff]' THEN normalize(value, NFC)
                                           ELSE value END)),
                       '[\u0300-\u036f]', '', 'g'),
        '[^[:alnum:]]+', ' ', 'g'));

-- search_fold of every element (NULL folds to ''), in one pass over the values joined by U+001F,
-- which folding keeps: each step works character by character, so the pieces are exactly the
-- values folded one by one at a fraction of the cost. (MARC values cannot hold U+001F, the
-- ISO 2709 subfield delimiter that XML forbids; should one turn up, the values are folded one
-- by one.)
CREATE FUNCTION search_fold_all(vals text[]) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    joined text := array_to_string(vals, E'\x1f', '');
BEGIN
    IF strpos(array_to_string(vals, '', ''), E'\x1f') > 0 THEN
        RETURN ARRAY(SELECT coalesce(search_fold(v), '') FROM unnest(vals) AS v);
    END IF;
    joined := regexp_replace(
        regexp_replace(lower(unaccent('unaccent'::regdictionary,
                                      CASE WHEN joined ~ '[^\x01-\u02ff]' THEN normalize(joined, NFC)
                                           ELSE joined END)),
                       '[\u0300-\u036f]', '', 'g'),
        '[^[:alnum:]\x1f]+', ' ', 'g');
    joined := btrim(replace(replace(joined, E' \x1f', E'\x1f'), E'\x1f ', E'\x1f'));
    IF joined = '' THEN  -- string_to_array('') is empty, not one empty piece
        RETURN array_fill(''::text, ARRAY[cardinality(vals)]);
    END IF;
    RETURN string_to_array(joined, E'\x1f');
END
$$;

-- Every string and number in a jsonb value, space separated.
CREATE FUNCTION search_json_text(value jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT string_agg(v #>> '{}', ' ')
      FROM jsonb_path_query(value, 'strict $.**') AS v
     WHERE jsonb_typeof(v) IN ('string', 'number');
END;

CREATE FUNCTION search_array(value jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN jsonb_typeof(value) = 'array' THEN value ELSE '[]'::jsonb END;

-- The text search query for a CQL term already split into words by the translator: each word
-- is folded here (the same folding as the index); a word that folds into several lexemes
-- ("F-16") becomes a phrase of them; prefixes[i] marks right truncation of word i.
-- op: 'all' (&), 'any' (|) or 'adj' (<->). weight: '' (any field) or the field's weight letter
-- (title A, creators B, subjects C, publisher and the rest D).
CREATE FUNCTION search_tsquery(words text[], prefixes boolean[], op text, weight text) RETURNS tsquery
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    parts   text[] := '{}';
    lexemes text[];
    part    text;
    joiner  text := CASE op WHEN 'any' THEN ' | ' WHEN 'adj' THEN ' <-> ' ELSE ' & ' END;
BEGIN
    FOR i IN 1 .. coalesce(array_length(words, 1), 0) LOOP
        lexemes := array_remove(string_to_array(search_fold(words[i]), ' '), '');
        CONTINUE WHEN coalesce(cardinality(lexemes), 0) = 0;
        SELECT string_agg(quote_literal(t.lexeme)
                          || CASE WHEN coalesce(prefixes[i], false) AND t.n = cardinality(lexemes)
                                  THEN ':*' || weight
                                  WHEN weight <> '' THEN ':' || weight
                                  ELSE '' END,
                          ' <-> ' ORDER BY t.n)
          INTO part
          FROM unnest(lexemes) WITH ORDINALITY AS t (lexeme, n);
        parts := parts || ('(' || part || ')');
    END LOOP;
    RETURN to_tsquery('simple'::regconfig, array_to_string(parts, joiner));
END
$$;

-- ---------------------------------------------------------------------------------------------
-- One narrow row per live (non-deleted) bibliographic record.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE bib_search (
    bib_id          bigint PRIMARY KEY,         -- bib_records.id (kept in step by the triggers)
    encoding_level  char(1) NOT NULL,
    year            integer,                    -- first four-digit run of summary.year
    language        text,                       -- summary.language, lower case
    title_key       text COLLATE "C",           -- folded title: sort key, == and ^ anchoring, scan
    creator_key     text COLLATE "C",           -- folded first creator: sort key
    publisher_key   text,                       -- folded publisher: tells publisher words from
                                                -- the other D-weighted words
    -- Every string of the summary, folded: title A, creators B, subjects C, everything else
    -- (publisher, year, extent, identifiers, ...) D. A field search is a weight-restricted query.
    words           tsvector NOT NULL,
    -- The record's search_terms (kind letter + folded value), so a rewrite deletes exactly those
    -- rows through their primary key instead of keeping a second index on bib_id.
    terms           text[] NOT NULL
);
-- fastupdate (the default) batches the GIN inserts of a loader's statement in the pending list;
-- a small list keeps searches from reading through megabytes of unmerged entries (the default
-- 4 MB made a 46-hit lookup 10x slower).
CREATE INDEX bib_search_words ON bib_search USING gin (words)
    WITH (fastupdate = on, gin_pending_list_limit = 256);
CREATE INDEX bib_search_title_key ON bib_search (title_key);

-- Scan terms (and exact, whole-value matching) of creators and subjects of live records: the
-- kind letter ('c' creator, 's' subject) followed by the folded value, one display form as
-- catalogued. Titles are scanned on bib_search.title_key.
CREATE TABLE search_terms (
    term    text COLLATE "C" NOT NULL,
    bib_id  bigint NOT NULL,
    display text NOT NULL,
    PRIMARY KEY (term, bib_id)
);

-- bath.possessingInstitution: the records a library holds.
CREATE INDEX holdings_sigel_live ON holdings (sigel, bib_id) WHERE NOT deleted;

-- Index the given live records (which have no search rows yet). All values of a record are
-- folded in one search_fold_all call: title, creators, subjects, publisher, the rest.
CREATE FUNCTION search_insert(ids bigint[]) RETURNS void
    LANGUAGE sql
BEGIN ATOMIC
    WITH src AS (
        SELECT b.id, b.encoding_level, b.summary,
               ARRAY(SELECT jsonb_array_elements_text(search_array(b.summary -> 'creators'))) AS creators,
               ARRAY(SELECT jsonb_array_elements_text(search_array(b.summary -> 'subjects'))) AS subjects,
               (SELECT string_agg(CASE jsonb_typeof(e.value)
                                      WHEN 'array' THEN array_to_string(ARRAY(
                                          SELECT jsonb_array_elements_text(e.value)), ' ')
                                      WHEN 'object' THEN search_json_text(e.value)
                                      ELSE e.value #>> '{}' END, ' ')
                  FROM jsonb_each(b.summary - '{title,creators,subjects,publisher}'::text[]) AS e) AS rest
          FROM bib_records b
         WHERE b.id = ANY (ids) AND NOT b.deleted
    ), d AS MATERIALIZED (
        SELECT src.id, src.encoding_level, src.summary, src.creators, src.subjects,
               cardinality(src.creators) AS nc, cardinality(src.subjects) AS ns,
               search_fold_all(ARRAY[src.summary ->> 'title'] || src.creators || src.subjects
                               || ARRAY[src.summary ->> 'publisher', src.rest]) AS f
          FROM src
    ), t AS MATERIALIZED (
        SELECT d.id, 'c' || c.term AS term, min(c.display) AS display
          FROM d, unnest(d.f[2:d.nc + 1], d.creators) AS c (term, display)
         WHERE c.term <> ''
         GROUP BY d.id, c.term
        UNION ALL
        SELECT d.id, 's' || s.term, min(s.display)
          FROM d, unnest(d.f[d.nc + 2:d.nc + d.ns + 1], d.subjects) AS s (term, display)
         WHERE s.term <> ''
         GROUP BY d.id, s.term
    ), terms AS (
        INSERT INTO search_terms (term, bib_id, display) SELECT t.term, t.id, t.display FROM t
    )
    INSERT INTO bib_search (bib_id, encoding_level, year, language, title_key, creator_key,
                            publisher_key, words, terms)
    SELECT d.id, d.encoding_level,
           substring(d.summary ->> 'year' FROM '[0-9]{4}')::integer,
           lower(nullif(btrim(d.summary ->> 'language'), '')),
           nullif(d.f[1], ''),
           CASE WHEN d.nc > 0 THEN nullif(d.f[2], '') END,
           nullif(d.f[d.nc + d.ns + 2], ''),
           setweight(to_tsvector('simple'::regconfig, d.f[1]), 'A')
           || setweight(to_tsvector('simple'::regconfig, array_to_string(d.f[2:d.nc + 1], ' ')), 'B')
           || setweight(to_tsvector('simple'::regconfig,
                                    array_to_string(d.f[d.nc + 2:d.nc + d.ns + 1], ' ')), 'C')
           || setweight(to_tsvector('simple'::regconfig,
                                    d.f[d.nc + d.ns + 2] || ' ' || d.f[d.nc + d.ns + 3]), 'D'),
           coalesce(g.terms, '{}')
      FROM d LEFT JOIN (SELECT t.id, array_agg(t.term) AS terms FROM t GROUP BY t.id) AS g ON g.id = d.id;
END;

-- Remove the search rows of the given records (their search_terms through the primary key).
CREATE FUNCTION search_remove(ids bigint[]) RETURNS void
    LANGUAGE sql
BEGIN ATOMIC
    -- Every row with one of these ids goes; the records' own terms steer the primary key scan.
    DELETE FROM search_terms
     WHERE term = ANY (ARRAY(SELECT DISTINCT o.term
                               FROM bib_search s, unnest(s.terms) AS o (term)
                              WHERE s.bib_id = ANY (ids)))
       AND bib_id = ANY (ids);
    DELETE FROM bib_search WHERE bib_id = ANY (ids);
END;

-- Rewrite the search rows of the given records from bib_records.
CREATE FUNCTION search_refresh(ids bigint[]) RETURNS void
    LANGUAGE sql
BEGIN ATOMIC
    SELECT search_remove(ids);
    SELECT search_insert(ids);
END;

CREATE FUNCTION search_after_insert() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM search_insert(ARRAY(SELECT n.id FROM new_rows n WHERE NOT n.deleted));
    RETURN NULL;
END
$$;

-- Only rows whose searchable content changed: a rewrite that keeps the summary (a redelivery,
-- a touched modification time, a new marcxml with the same summary) leaves the index alone.
CREATE FUNCTION search_after_update() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM search_refresh(ARRAY(
        SELECT n.id
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE (n.summary, n.deleted, n.encoding_level)
               IS DISTINCT FROM (o.summary, o.deleted, o.encoding_level)));
    RETURN NULL;
END
$$;

CREATE FUNCTION search_after_delete() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM search_remove(ARRAY(SELECT o.id FROM old_rows o));
    RETURN NULL;
END
$$;

CREATE FUNCTION search_after_truncate() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    TRUNCATE bib_search, search_terms;
    RETURN NULL;
END
$$;

CREATE TRIGGER bib_records_search_insert
    AFTER INSERT ON bib_records REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_after_insert();

CREATE TRIGGER bib_records_search_update
    AFTER UPDATE ON bib_records REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_after_update();

CREATE TRIGGER bib_records_search_delete
    AFTER DELETE ON bib_records REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_after_delete();

CREATE TRIGGER bib_records_search_truncate
    AFTER TRUNCATE ON bib_records
    FOR EACH STATEMENT EXECUTE FUNCTION search_after_truncate();

-- Records that exist already.
SELECT search_insert(ARRAY(SELECT id FROM bib_records));
