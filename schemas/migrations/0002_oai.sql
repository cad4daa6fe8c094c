-- OAI-PMH: the header of a bibliographic record lists the supplier:CODE sets it is in, and the
-- set supplier:CODE is tested per record; both look bib_suppliers up by bib_id.
CREATE INDEX bib_suppliers_bib ON bib_suppliers (bib_id, supplier_id);
