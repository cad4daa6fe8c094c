-- Read replicas (gateway.store.replicas): the horizon mark on the primary, replay positions.

-- name: write_mark
-- On the primary: the OAI horizon for replicas to replay, unless another process wrote it less
-- than $1 seconds ago (then nothing is written: no WAL, no commit record).
UPDATE oai_horizon_mark
SET horizon = greatest(horizon, oai_horizon()), written_at = clock_timestamp()
WHERE written_at IS NULL OR written_at < clock_timestamp() - make_interval(secs => $1);

-- name: primary_position
-- On the primary: how far its WAL is flushed (what a replica can have received).
SELECT pg_current_wal_flush_lsn()::text AS lsn;

-- name: replica_position
-- On a replica: where replay stands, how old its last replayed commit is (by the primary's
-- clock against this server's) and the horizon mark it has replayed.
SELECT pg_is_in_recovery() AS recovery,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 AS replay_age,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused,
       (SELECT horizon FROM oai_horizon_mark) AS horizon;
