"""How the replica checks measure lag and parse their settings, on the real primary and replica."""

from __future__ import annotations

import asyncio

from gateway.config import from_env, read_urls
from gateway.store import db
from gateway.store.replicas import Replicas, describe, parse_lsn
from tests.replicas.conftest import Cluster, Databases


async def test_a_replica_of_an_idle_primary_is_current_although_its_last_commit_is_old(
    databases: Databases, cluster: Cluster
) -> None:
    """Nothing is written on the primary (the horizon mark once, then not again for an hour):
    replay timestamps stop, so the age of the last replayed commit passes the maximum lag; the
    WAL positions say the replica has everything, and it stays in use."""
    primary = await db.create_pool(databases.primary, min_size=1, max_size=2)
    replicas = Replicas(primary, [databases.replica], max_lag=1.0, interval=3600.0)
    await replicas.open()
    try:
        await replicas.check()  # writes the mark
        await cluster.caught_up()
        await asyncio.sleep(2.5)  # longer than the maximum lag, with nothing written meanwhile
        await replicas.check()
        state = replicas.replicas[0].state
        commit_age = await cluster.replica_sql(
            "SELECT extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8")
        assert isinstance(commit_age, float) and commit_age > 1.0
        assert state.usable, state.reason
        assert state.lag is not None and state.lag < 1.0

        # Replay paused while the primary writes: the replica falls behind every later sample.
        await cluster.pause()
        async with primary.acquire() as conn:
            await conn.execute("UPDATE oai_horizon_mark SET written_at = NULL")
        for _ in range(30):  # until its lag exceeds the maximum (each check writes the mark again)
            await replicas.check()
            async with primary.acquire() as conn:
                await conn.execute("UPDATE oai_horizon_mark SET written_at = NULL")
            if not state.usable:
                break
            await asyncio.sleep(0.2)
        assert not state.usable and "exceeds" in state.reason and state.paused
        await cluster.resume()
        await cluster.caught_up()
        await replicas.check()
        assert state.usable, state.reason
    finally:
        await replicas.close()
        await primary.close()


async def test_a_replica_that_is_down_or_not_a_standby_is_left_out(databases: Databases) -> None:
    primary = await db.create_pool(databases.primary, min_size=1, max_size=2)
    gone = databases.replica.replace("host=", "host=/nonexistent")
    replicas = Replicas(primary, [gone, databases.primary], max_lag=30.0)
    await replicas.open()
    try:
        await replicas.check()
        down, not_standby = (r.state for r in replicas.replicas)
        assert not down.up and not down.usable
        assert not_standby.up and not not_standby.usable and "not a standby" in not_standby.reason
        assert replicas.targets() == [None]  # reads go to the primary
        async with replicas.acquire() as conn:
            assert await conn.fetchval("SELECT NOT pg_is_in_recovery()")
        assert replicas.status()["fallbacks"] == 1
        assert all("password" not in r["name"] for r in replicas.status()["replicas"])
    finally:
        await replicas.close()
        await primary.close()


async def test_a_busy_replica_is_not_a_down_one(databases: Databases) -> None:
    """Every connection of the replica's read pool in use (long harvests, many searches): a check
    still reaches the replica and keeps it in use, and a read that cannot get a connection goes
    elsewhere without leaving the replica out."""
    primary = await db.create_pool(databases.primary, min_size=1, max_size=2)
    replicas = Replicas(primary, [databases.replica], max_lag=30.0)
    await replicas.open(lambda url: db.create_pool(url, min_size=0, max_size=1))
    replica = replicas.replicas[0]
    try:
        await replicas.check()
        assert replica.state.usable, replica.state.reason
        assert replica.pool is not None
        async with replica.pool.acquire() as held:  # the read pool's only connection, busy
            assert await held.fetchval("SELECT pg_is_in_recovery()")
            await replicas.check()
            assert replica.state.up and replica.state.usable, replica.state.reason
            async with replicas.acquire() as conn:  # no connection free there: the primary answers
                assert await conn.fetchval("SELECT NOT pg_is_in_recovery()")
            assert replica.state.usable, replica.state.reason
            assert replicas.status()["fallbacks"] == 1
        async with replicas.acquire() as conn:  # free again: the replica answers
            assert await conn.fetchval("SELECT pg_is_in_recovery()")
    finally:
        await replicas.close()
        await primary.close()


def test_lag_is_the_smaller_bound() -> None:
    replicas = Replicas(None, [], max_lag=5.0)  # type: ignore[arg-type]
    replicas._samples.extend([(100.0, 1000), (101.0, 2000), (102.0, 3000)])
    assert replicas.lag(102.5, 3000, 3600.0) == 0.5  # has the latest sample: idle primary, old commit
    assert replicas.lag(102.5, 2500, 0.2) == 0.2  # a recent commit bounds it tighter
    assert replicas.lag(102.5, 2500, None) == 1.5  # has the sample of 101.0
    assert replicas.lag(102.5, 500, 42.0) == 42.0  # behind every sample: the commit's age
    assert replicas.lag(102.5, None, None) is None


def test_settings_and_names() -> None:
    assert read_urls("") == ()
    assert read_urls(" postgresql://a/x,postgresql://b/x  postgres://u:secret@c,d:5433/x ") == (
        "postgresql://a/x", "postgresql://b/x", "postgres://u:secret@c,d:5433/x")
    settings = from_env({"FORVARV_READ_DATABASE_URL": "postgresql://a/x postgresql://b/x",
                         "FORVARV_READ_MAX_LAG": "7.5"})
    assert settings.read_database_urls == ("postgresql://a/x", "postgresql://b/x")
    assert settings.read_max_lag == 7.5
    assert from_env({}).read_database_urls == () and from_env({}).read_max_lag == 30.0
    assert describe("postgresql://u:secret@db.example:5433/forvarv") == "db.example:5433/forvarv"
    assert describe("postgresql://postgres:@/forvarv?host=/run/pg") == "/run/pg:5432/forvarv"
    assert describe("postgresql://u:secret@a:5432,b:5433/forvarv") == "a:5432,b:5433/forvarv"
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
