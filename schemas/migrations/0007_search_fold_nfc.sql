-- Folded search text is always NFC (search_fold, search_fold_all of 0003).
--
-- 0003 normalises to NFC first and then drops the combining marks U+0300-U+036F. Dropping a mark
-- can leave two characters side by side that NFC would have composed had the mark not stood
-- between them (a Hangul leading consonant and vowel with an accent between: U+1100 U+0300
-- U+1161 folded to the two jamo, not to the syllable U+AC00), so the folded text was not always
-- NFC, and such a record was not found by the same word typed precomposed. A property test
-- (tests/sru/test_index.py) found it. Both functions now end with NFC as well, again only for
-- text with a character beyond U+02FF (below that, NFC changes nothing), so folding Latin text
-- costs what it did.

CREATE FUNCTION search_nfc(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN value ~ '[^\x01-\u02ff]' THEN normalize(value, NFC) ELSE value END;

CREATE OR REPLACE FUNCTION search_fold(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN search_nfc(btrim(regexp_replace(
        regexp_replace(lower(unaccent('unaccent'::regdictionary, search_nfc(value))),
                       '[\u0300-\u036f]', '', 'g'),
        '[^[:alnum:]]+', ' ', 'g')));

-- As in 0003, with the final NFC over the joined values: U+001F is a starter that composes with
-- nothing, so normalising the whole is normalising each piece.
CREATE OR REPLACE FUNCTION search_fold_all(vals text[]) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    joined text := array_to_string(vals, E'\x1f', '');
BEGIN
    IF strpos(array_to_string(vals, '', ''), E'\x1f') > 0 THEN
        RETURN ARRAY(SELECT coalesce(search_fold(v), '') FROM unnest(vals) AS v);
    END IF;
    joined := regexp_replace(
        regexp_replace(lower(unaccent('unaccent'::regdictionary, search_nfc(joined))),
                       '[\u0300-\u036f]', '', 'g'),
        '[^[:alnum:]\x1f]+', ' ', 'g');
    joined := search_nfc(btrim(replace(replace(joined, E' \x1f', E'\x1f'), E'\x1f ', E'\x1f')));
    IF joined = '' THEN  -- string_to_array('') is empty, not one empty piece
        RETURN array_fill(''::text, ARRAY[cardinality(vals)]);
    END IF;
    RETURN string_to_array(joined, E'\x1f');
END
$$;

-- Re-fold what is indexed already: only records with text beyond U+02FF can fold differently.
SELECT search_refresh(ARRAY(SELECT s.bib_id
                              FROM bib_search s JOIN bib_records b ON b.id = s.bib_id
                             WHERE b.summary::text ~ '[^\x01-\u02ff]'));
