-- Whether stored MARCXML must be cleaned before it is embedded in an OAI-PMH response
-- (xml_unsafe, 0002) is now said by whoever writes the row, not computed by PostgreSQL.
--
-- As a generated column it ran three regular expressions over every stored record, including a
-- case-insensitive one: ~30 µs of PostgreSQL CPU per bibliographic record on the intake hot path
-- (a tenth of what the database spends on a bibliographic record with its holding). The loader
-- serialises every record itself and knows the answer for the price of a byte scan
-- (gateway/prepare.py, protocols.xmlchars.stored_xml_unsafe: the same tests as the function
-- below, never answering "safe" where it answers "unsafe"; tests/storage/test_xml_unsafe.py).
--
-- The column keeps its values and becomes a plain column:
--   * true / false: said by the writer;
--   * NULL: not said (any INSERT that leaves it out) - treated as unsafe, i.e. cleaned on the way
--     out, so a writer that does not know never makes a response invalid;
--   * an UPDATE that changes marcxml without changing xml_unsafe gets it recomputed by the trigger
--     below (updates are redeliveries and edits, not the bulk of intake; COPY inserts are left
--     without row triggers, which would also cost COPY its multi-row inserts).

CREATE FUNCTION xml_unsafe(marcxml text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN marcxml ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]'
        OR marcxml ~ '^(\s|<\?)'
        OR (strpos(marcxml, '&#') > 0
            AND marcxml ~* '&#(x0*([0-8bcef]|1[0-9a-f]|fff[ef])|0*([0-8]|1[124-9]|2[0-9]|3[01]|6553[45]));');

ALTER TABLE bib_records ALTER COLUMN xml_unsafe DROP EXPRESSION;
ALTER TABLE holdings ALTER COLUMN xml_unsafe DROP EXPRESSION;

CREATE FUNCTION xml_unsafe_recompute() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.xml_unsafe := xml_unsafe(NEW.marcxml);
    RETURN NEW;
END
$$;

CREATE TRIGGER bib_records_xml_unsafe BEFORE UPDATE OF marcxml ON bib_records
    FOR EACH ROW
    WHEN (NEW.marcxml IS DISTINCT FROM OLD.marcxml AND NEW.xml_unsafe IS NOT DISTINCT FROM OLD.xml_unsafe)
    EXECUTE FUNCTION xml_unsafe_recompute();
CREATE TRIGGER holdings_xml_unsafe BEFORE UPDATE OF marcxml ON holdings
    FOR EACH ROW
    WHEN (NEW.marcxml IS DISTINCT FROM OLD.marcxml AND NEW.xml_unsafe IS NOT DISTINCT FROM OLD.xml_unsafe)
    EXECUTE FUNCTION xml_unsafe_recompute();
