-- Read replicas (docs/operations.md, "Read replicas"): the OAI-PMH horizon as a replica has replayed it.
--
-- oai_horizon() is the harvest horizon of docs/oai-pmh.md ("Datestamps and the horizon"): the
-- least of the statement's start and every key registered by oai_datestamp() (migration 0015),
-- so every datestamp before it that will ever commit has committed when the statement reads the
-- lock table. Advisory locks are not replicated, so a replica cannot compute it: the gateway
-- writes it on the primary into oai_horizon_mark about once a second. The mark commits after its
-- horizon was computed, so a replica that has replayed the mark has replayed every writer dated
-- before it: the mark is a horizon there, read in one statement before the request's data.

CREATE FUNCTION oai_horizon() RETURNS timestamptz
    LANGUAGE sql VOLATILE
AS $$
SELECT least(statement_timestamp(), min(to_timestamp(l.objid::bigint)))
FROM pg_locks l
WHERE l.locktype = 'advisory' AND l.classid = 1330005321 AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
$$;

-- One row. horizon only moves forward (greatest of what is there and a new horizon: both were
-- horizons before this commit); written_at is the primary's clock when it was last written.
CREATE TABLE oai_horizon_mark (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    horizon timestamptz,
    written_at timestamptz
);
INSERT INTO oai_horizon_mark (one) VALUES (true);
