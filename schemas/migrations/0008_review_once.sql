-- An ambiguous match is queued for review once while it is open: a later delivery of a record that
-- meets the same candidates again (a redelivery, another supplier's copy) is still reported as
-- ambiguous with every candidate, but adds no second open item for the same record and the same
-- candidates (gateway/queries/loader.sql, insert_review_items). Once resolved, a new ambiguous
-- match is queued again. This index finds the open items of a record.
CREATE INDEX review_items_open_bib ON review_items (bib_id) WHERE resolved_at IS NULL;
