-- Förvärv Gateway: the search index behind SRU/CQL (gateway/search, protocols/sru).
--
-- Everything here is derived from bib_records (summary jsonb, encoding level, modification
-- time) and rewritten by statement-level triggers in the same transaction as the records, so a
-- committed record is searchable at once and a deleted one is gone at once. Deleted records
-- have no rows here at all: searching never has to look at the wide bib_records rows until the
-- page of records to return is known.
--
-- Folding: NFC, unaccent, lower case, combining marks dropped, everything that is not a letter
-- or digit becomes a single space. Index and query go through the same function, so "Malmo"
-- finds "Malmö" and a decomposed (NFD) record is found by a precomposed query and vice versa.

-- The folding used for words, keys and scan terms. IMMUTABLE on purpose (the unaccent rules are
-- part of the installation); the SQL-standard body binds unaccent and its dictionary at creation
-- time, so search_path does not matter when indexes or triggers evaluate it.
CREATE FUNCTION search_fold(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN btrim(regexp_replace(
        regexp_replace(lower(unaccent('unaccent'::regdictionary, normalize(value, NFC))),
                       '[\u0300-\u036f]', '', 'g'),
        '[^[:alnum:]]+', ' ', 'g'));

-- Every string and number in a jsonb value, space separated (arrays of creators, the whole
-- summary for keywords).
CREATE FUNCTION search_json_text(value jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT string_agg(v #>> '{}', ' ')
      FROM jsonb_path_query(value, 'strict $.**') AS v
     WHERE jsonb_typeof(v) IN ('string', 'number');
END;

CREATE FUNCTION search_words(value text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_tsvector('simple'::regconfig, coalesce(search_fold(value), ''));

-- The text search query for a CQL term already split into words by the translator: each word
-- is folded here (the same folding as the index); a word that folds into several lexemes
-- ("F-16") becomes a phrase of them; prefixes[i] marks right truncation of word i.
-- op: 'all' (&), 'any' (|) or 'adj' (<->).
CREATE FUNCTION search_tsquery(words text[], prefixes boolean[], op text) RETURNS tsquery
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
                                  THEN ':*' ELSE '' END,
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
    bib_id          bigint PRIMARY KEY REFERENCES bib_records (id) ON DELETE CASCADE,
    modified_at     timestamptz NOT NULL,
    encoding_level  char(1) NOT NULL,
    year            integer,                    -- first four-digit run of summary.year
    language        text,                       -- summary.language, lower case
    title_key       text COLLATE "C",           -- folded title: sort key, == and ^ anchoring
    creator_key     text COLLATE "C",           -- folded first creator: sort key
    all_words       tsvector NOT NULL,          -- every string in the summary
    title_words     tsvector NOT NULL,
    creator_words   tsvector NOT NULL,
    subject_words   tsvector NOT NULL,
    publisher_words tsvector NOT NULL
);
-- A small pending list: inserts still go in batches, but a search never has to read through
-- megabytes of unmerged entries (the default 4 MB list made a 46-hit lookup 10x slower).
CREATE INDEX bib_search_all ON bib_search USING gin (all_words) WITH (gin_pending_list_limit = 128);
CREATE INDEX bib_search_title ON bib_search USING gin (title_words) WITH (gin_pending_list_limit = 128);
CREATE INDEX bib_search_creator ON bib_search USING gin (creator_words) WITH (gin_pending_list_limit = 128);
CREATE INDEX bib_search_subject ON bib_search USING gin (subject_words) WITH (gin_pending_list_limit = 128);
CREATE INDEX bib_search_publisher ON bib_search USING gin (publisher_words)
    WITH (gin_pending_list_limit = 128);
CREATE INDEX bib_search_title_key ON bib_search (title_key, bib_id);
CREATE INDEX bib_search_creator_key ON bib_search (creator_key, bib_id);
CREATE INDEX bib_search_year ON bib_search (year, bib_id);
CREATE INDEX bib_search_modified ON bib_search (modified_at, bib_id);
CREATE INDEX bib_search_language ON bib_search (language);
CREATE INDEX bib_search_encoding_level ON bib_search (encoding_level);

-- Scan terms (and exact, whole-value matching) of titles, creators and subjects of live
-- records: folded term, one display form as catalogued.
CREATE TABLE search_terms (
    kind    text NOT NULL CHECK (kind IN ('title', 'creator', 'subject')),
    term    text COLLATE "C" NOT NULL,
    display text NOT NULL,
    bib_id  bigint NOT NULL REFERENCES bib_records (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, term, bib_id)
);
CREATE INDEX search_terms_bib ON search_terms (bib_id);

-- bath.possessingInstitution: the records a library holds.
CREATE INDEX holdings_sigel_live ON holdings (sigel, bib_id) WHERE NOT deleted;

CREATE FUNCTION search_array(value jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN jsonb_typeof(value) = 'array' THEN value ELSE '[]'::jsonb END;

-- Rewrite the search rows of the given records from bib_records.
CREATE FUNCTION search_refresh(ids bigint[]) RETURNS void
    LANGUAGE sql
BEGIN ATOMIC
    DELETE FROM bib_search WHERE bib_id = ANY (ids);
    DELETE FROM search_terms WHERE bib_id = ANY (ids);
    INSERT INTO bib_search (bib_id, modified_at, encoding_level, year, language, title_key,
                            creator_key, all_words, title_words, creator_words, subject_words,
                            publisher_words)
    SELECT b.id, b.modified_at, b.encoding_level,
           substring(b.summary ->> 'year' FROM '[0-9]{4}')::integer,
           lower(nullif(btrim(b.summary ->> 'language'), '')),
           nullif(search_fold(b.summary ->> 'title'), ''),
           nullif(search_fold(search_array(b.summary -> 'creators') ->> 0), ''),
           search_words(search_json_text(b.summary)),
           search_words(b.summary ->> 'title'),
           search_words(search_json_text(search_array(b.summary -> 'creators'))),
           search_words(search_json_text(search_array(b.summary -> 'subjects'))),
           search_words(b.summary ->> 'publisher')
      FROM bib_records b
     WHERE b.id = ANY (ids) AND NOT b.deleted;
    INSERT INTO search_terms (kind, term, display, bib_id)
    SELECT t.kind, t.term, min(t.display), t.bib_id
      FROM (SELECT 'title' AS kind, search_fold(b.summary ->> 'title') AS term,
                   b.summary ->> 'title' AS display, b.id AS bib_id
              FROM bib_records b
             WHERE b.id = ANY (ids) AND NOT b.deleted
            UNION ALL
            SELECT 'creator', search_fold(c.value), c.value, b.id
              FROM bib_records b, jsonb_array_elements_text(search_array(b.summary -> 'creators')) AS c
             WHERE b.id = ANY (ids) AND NOT b.deleted
            UNION ALL
            SELECT 'subject', search_fold(s.value), s.value, b.id
              FROM bib_records b, jsonb_array_elements_text(search_array(b.summary -> 'subjects')) AS s
             WHERE b.id = ANY (ids) AND NOT b.deleted) AS t
     WHERE t.term <> ''
     GROUP BY t.kind, t.term, t.bib_id;
END;

CREATE FUNCTION search_after_insert() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM search_refresh(ARRAY(SELECT n.id FROM new_rows n));
    RETURN NULL;
END
$$;

CREATE FUNCTION search_after_update() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM search_refresh(ARRAY(
        SELECT n.id
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE (n.summary, n.deleted, n.modified_at, n.encoding_level)
               IS DISTINCT FROM (o.summary, o.deleted, o.modified_at, o.encoding_level)));
    RETURN NULL;
END
$$;

CREATE TRIGGER bib_records_search_insert
    AFTER INSERT ON bib_records REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_after_insert();

CREATE TRIGGER bib_records_search_update
    AFTER UPDATE ON bib_records REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_after_update();

-- Records that exist already.
SELECT search_refresh(ARRAY(SELECT id FROM bib_records));
