-- The review queue acts (gateway/intake/review.py): keep the incoming record on a chosen
-- candidate, merge duplicate candidates into one survivor, or separate the incoming record into
-- a record of its own. Each action is recorded with who and when, and a record's provenance
-- (gateway/intake/provenance.py) reads its deliveries and these events.

-- How an item was settled: the action and what it did (JSON), and by whom.
ALTER TABLE review_items ADD COLUMN resolved_by text;
ALTER TABLE review_items ADD COLUMN resolution jsonb;

-- A record merged away is deleted (an OAI-PMH deletion) and names the record that took its
-- holdings and identifiers.
ALTER TABLE bib_records ADD COLUMN merged_into bigint;
CREATE INDEX bib_records_merged_into ON bib_records (merged_into) WHERE merged_into IS NOT NULL;

-- What a cataloguer did to a record, one row per record touched (a merge writes one for the
-- survivor and one for each record merged away). No foreign key: records are never removed.
CREATE TABLE record_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bib_id          bigint NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,
    action          text NOT NULL,      -- keep | merge | merged_into | separate | holdings_moved_away
    review_item_id  bigint,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX record_events_bib ON record_events (bib_id, id);

