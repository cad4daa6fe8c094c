-- EAN/GTIN identifiers in one form (protocols.marc.identifiers.normalize_ean): a GTIN-8, a GTIN-12
-- (UPC-A) or a zero-led GTIN-14 is stored as the 13-digit EAN it equals, so the same barcode sent
-- as 12, 13 or 14 digits meets one record. Identifiers stored before in another form are
-- rewritten here (the summaries of records loaded before keep the digits as they were read).
INSERT INTO bib_identifiers (kind, value, bib_id)
SELECT 'ean', lpad(ltrim(value, '0'), 13, '0'), bib_id
  FROM bib_identifiers
 WHERE kind = 'ean' AND length(value) <> 13 AND length(ltrim(value, '0')) <= 13
ON CONFLICT DO NOTHING;

DELETE FROM bib_identifiers
 WHERE kind = 'ean' AND length(value) <> 13 AND length(ltrim(value, '0')) <= 13;
