-- The search index after commit (migration 0018; gateway/search/indexer.py).

-- name: defer
-- In a loader batch's transaction: the bib_records triggers queue the records instead of indexing them.
SELECT set_config('forvarv.search_deferred', 'on', true);

-- name: index_queued
-- Index up to $1 queue rows in this transaction; NULL when another indexer is at it and $2 is false.
SELECT search_index_queued($1::int, $2::boolean);

-- name: pending
SELECT EXISTS (SELECT 1 FROM search_queue);
