-- The search index holds the record's content only, and a phrase never spans two values.
--
-- 1. Content only. 0003 indexed every summary value but title, creators, subjects and publisher
--    as "the rest" (D), so the resource type derived from Leader/06 ("text", "notated music")
--    and the MARC language code ("swe") were keywords: `text` found every book. The rest is now
--    an explicit list of what the record says: year, extent, edition and its ISBNs, ISSNs and
--    EANs. (The language keeps its own index, dc.language; the type has none.) A key added to
--    the summary later is not indexed unless it is added here.
-- 2. Phrase boundaries. `=` on a word index is a phrase (adj, CQL 1.2); 0003 wrote the values of
--    a field side by side, so the last word of one creator and the first of the next were
--    adjacent ("august berg" found "Strindberg, August" + "Berg, Nils"), and so were the last
--    title word and the first creator word for keyword phrases. Values are now joined with a
--    separator token that takes one position and is then deleted from the vector: adjacent
--    words of different values are two positions apart, and no phrase crosses. The separator
--    'zz.zz' is a host token of the text search parser; folded text holds only letters, digits
--    and spaces, so no word of a record can be that lexeme.
--
-- search_insert is the one indexing function (the triggers and search_refresh call it); it is
-- replaced here with the same signature, and every indexed record is rewritten.

CREATE OR REPLACE FUNCTION search_insert(ids bigint[]) RETURNS void
    LANGUAGE sql
BEGIN ATOMIC
    WITH src AS (
        SELECT b.id, b.encoding_level, b.summary,
               ARRAY(SELECT jsonb_array_elements_text(search_array(b.summary -> 'creators'))) AS creators,
               ARRAY(SELECT jsonb_array_elements_text(search_array(b.summary -> 'subjects'))) AS subjects,
               -- The rest of the record's content, each value on its own (no type, no language).
               ARRAY[b.summary ->> 'year', b.summary ->> 'extent', b.summary ->> 'edition']
               || ARRAY(SELECT jsonb_array_elements_text(search_array(b.summary -> 'isbns')))
               || ARRAY(SELECT jsonb_array_elements_text(search_array(b.summary -> 'issns')))
               || ARRAY(SELECT jsonb_array_elements_text(search_array(b.summary -> 'eans'))) AS rest
          FROM bib_records b
         WHERE b.id = ANY (ids) AND NOT b.deleted
    ), d AS MATERIALIZED (
        SELECT src.id, src.encoding_level, src.summary, src.creators, src.subjects,
               cardinality(src.creators) AS nc, cardinality(src.subjects) AS ns,
               search_fold_all(ARRAY[src.summary ->> 'title'] || src.creators || src.subjects
                               || ARRAY[src.summary ->> 'publisher'] || src.rest) AS f
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
           -- Each group ends with the separator too, so the next group starts after a gap.
           ts_delete(
               setweight(to_tsvector('simple'::regconfig, d.f[1] || ' zz.zz'), 'A')
               || setweight(to_tsvector('simple'::regconfig,
                                        array_to_string(d.f[2:d.nc + 1], ' zz.zz ') || ' zz.zz'), 'B')
               || setweight(to_tsvector('simple'::regconfig,
                                        array_to_string(d.f[d.nc + 2:d.nc + d.ns + 1], ' zz.zz ')
                                        || ' zz.zz'), 'C')
               || setweight(to_tsvector('simple'::regconfig,
                                        array_to_string(d.f[d.nc + d.ns + 2:], ' zz.zz ')), 'D'),
               'zz.zz'),
           coalesce(g.terms, '{}')
      FROM d LEFT JOIN (SELECT t.id, array_agg(t.term) AS terms FROM t GROUP BY t.id) AS g ON g.id = d.id;
END;

-- Re-index what is indexed already, with the new content and positions.
SELECT search_refresh(ARRAY(SELECT bib_id FROM bib_search));
