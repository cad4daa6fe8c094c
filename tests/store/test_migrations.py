from __future__ import annotations

import asyncpg

from gateway.store import migrations


async def test_template_has_every_migration(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        states = await migrations.status(conn)
    assert states, "no migrations found in the package"
    assert all(done for _, done in states)


async def test_migrate_is_idempotent(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        again = await migrations.migrate(conn)
        count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    assert again == []
    assert count == len(migrations.available())


async def test_tests_are_isolated(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO libraries (sigel, name) VALUES ('Iso', 'Isolation')")
        assert await conn.fetchval("SELECT count(*) FROM libraries") == 1
