-- The search index after commit (issue 14): the loader's transactions queue the records they
-- wrote instead of indexing them; an indexer (gateway/search/indexer.py) drains the queue in bulk
-- after commit, in its own transactions.
--
-- Which writers defer is the writer's choice, per transaction: the loader sets
-- forvarv.search_deferred to 'on' (SET LOCAL) in each batch's transaction; every other writer of
-- bib_records (review actions, merges, tests' seeds, anything written by hand) leaves it unset and
-- the triggers index at once, as before, so what they change is searchable at their commit.
--
-- A queue row is written in the same transaction as the records it names, so it exists exactly
-- when they do: a crash before the commit loses both, a crash after it (before the indexer's
-- commit) loses neither, and the indexer, whoever runs it next, indexes them. Indexing a record is
-- search_refresh: it reads the committed row as it is then, so indexing twice, or late, or after a
-- later change, gives the same index.
--
-- One indexer at a time: it holds the exclusive transaction-level advisory lock (SEARCH_LOCK_CLASS
-- 0x46565358, 0) while it drains; the triggers' immediate indexing takes the same lock shared, so
-- an indexer and an immediate writer never rewrite the same record's rows at once (two deletes and
-- inserts of one bib_search row would collide on its primary key). A drain is a few hundred
-- milliseconds at most: an immediate writer waits that long at worst.

CREATE TABLE search_queue (
    id          bigserial PRIMARY KEY,
    ids         bigint[] NOT NULL,                           -- bib_records ids to index again
    queued_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION search_deferred() RETURNS boolean
    LANGUAGE sql STABLE
    RETURN coalesce(current_setting('forvarv.search_deferred', true), '') = 'on';

-- Immediate indexing waits for a drain in progress (and holds it off until this transaction ends).
CREATE FUNCTION search_lock_shared() RETURNS void
    LANGUAGE sql
    BEGIN ATOMIC
        SELECT pg_advisory_xact_lock_shared(x'46565358'::int, 0);
    END;

CREATE FUNCTION search_enqueue(ids bigint[]) RETURNS void
    LANGUAGE sql
    BEGIN ATOMIC
        INSERT INTO search_queue (ids) SELECT ids WHERE cardinality(ids) > 0;
    END;

CREATE OR REPLACE FUNCTION search_after_insert() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    ids bigint[] := ARRAY(SELECT n.id FROM new_rows n WHERE NOT n.deleted);
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN NULL;
    END IF;
    IF search_deferred() THEN
        PERFORM search_enqueue(ids);
    ELSE
        PERFORM search_lock_shared();
        PERFORM search_insert(ids);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION search_after_update() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    ids bigint[] := ARRAY(
        SELECT n.id
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE (n.summary, n.deleted, n.encoding_level)
               IS DISTINCT FROM (o.summary, o.deleted, o.encoding_level));
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN NULL;
    END IF;
    IF search_deferred() THEN
        PERFORM search_enqueue(ids);
    ELSE
        PERFORM search_lock_shared();
        PERFORM search_refresh(ids);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION search_after_delete() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    ids bigint[] := ARRAY(SELECT o.id FROM old_rows o);
BEGIN
    IF search_deferred() THEN
        PERFORM search_enqueue(ids);
    ELSE
        PERFORM search_lock_shared();
        PERFORM search_remove(ids);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION search_after_truncate() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    TRUNCATE bib_search, search_terms, search_queue;
    RETURN NULL;
END
$$;

-- Drain: up to max_entries queue rows, oldest first, in the caller's transaction; returns how many
-- records were indexed (0: the queue was empty; NULL: another indexer holds the lock and `wait`
-- was false). The caller commits; a crash before that leaves the rows queued.
CREATE FUNCTION search_index_queued(max_entries integer, wait boolean) RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    todo bigint[];
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(x'46565358'::int, 0);
    ELSIF NOT pg_try_advisory_xact_lock(x'46565358'::int, 0) THEN
        RETURN NULL;
    END IF;
    WITH claimed AS (
        DELETE FROM search_queue
         WHERE id IN (SELECT q.id FROM search_queue q ORDER BY q.id LIMIT max_entries FOR UPDATE SKIP LOCKED)
        RETURNING search_queue.ids
    )
    SELECT coalesce(array_agg(DISTINCT i ORDER BY i), '{}') INTO todo FROM claimed, unnest(claimed.ids) AS i;
    IF cardinality(todo) > 0 THEN
        PERFORM search_refresh(todo);
    END IF;
    RETURN cardinality(todo);
END
$$;
