-- Named queries of gateway/search/repository.py (the SRU search's fixed statements; the searches,
-- counts and scans themselves are composed there from the CQL tree).

-- name: holdings
-- The live holdings of a page of records, for the marc21_withholdings schema.
SELECT bib_id, sigel, marcxml FROM holdings
 WHERE bib_id = ANY($1::bigint[]) AND NOT deleted
 ORDER BY bib_id, sigel;
