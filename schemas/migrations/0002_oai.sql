-- OAI-PMH data provider.

-- The header of a bibliographic record lists the supplier:CODE sets it is in, and the set
-- supplier:CODE is tested per record; both look bib_suppliers up by bib_id.
CREATE INDEX bib_suppliers_bib ON bib_suppliers (bib_id, supplier_id);

-- Stored MARCXML that cannot be embedded in a response as it is - it holds characters XML 1.0
-- forbids (C0 controls other than tab, LF, CR; U+FFFE, U+FFFF; or character references to them)
-- or starts with an XML declaration - is cleaned on the way out. Whether it must be is decided
-- once, when the row is written, so the harvest hot path tests a flag instead of scanning text.
ALTER TABLE bib_records ADD COLUMN xml_unsafe boolean GENERATED ALWAYS AS (
    marcxml ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]'
    OR marcxml ~ '^(\s|<\?)'
    OR marcxml ~* '&#(x0*([0-8bcef]|1[0-9a-f]|fff[ef])|0*([0-8]|1[124-9]|2[0-9]|3[01]|6553[45]));'
) STORED;
ALTER TABLE holdings ADD COLUMN xml_unsafe boolean GENERATED ALWAYS AS (
    marcxml ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]'
    OR marcxml ~ '^(\s|<\?)'
    OR marcxml ~* '&#(x0*([0-8bcef]|1[0-9a-f]|fff[ef])|0*([0-8]|1[124-9]|2[0-9]|3[01]|6553[45]));'
) STORED;
