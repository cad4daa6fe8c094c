"""Requests waiting for a delivery are woken by the transaction that finishes it (gateway.finished)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway import finished, intake, loader, registry, synthetic
from tests.intake.helpers import seed_registry


@pytest.fixture
async def watch(db_url: str) -> AsyncIterator[finished.Watch]:
    w = finished.Watch()
    await w.start(db_url)
    yield w
    await w.stop()


async def test_a_notification_wakes_only_the_requests_waiting_for_that_delivery(
        pool: asyncpg.Pool, watch: finished.Watch) -> None:
    with watch.watching(41) as other, watch.watching(42) as mine, watch.watching(42) as also_mine:
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_notify($1, 'not a number')", finished.CHANNEL)
            await finished.notify(conn, 42)
        await asyncio.wait_for(mine.wait(), 10)
        await asyncio.wait_for(also_mine.wait(), 10)
        assert not other.is_set()
    assert not watch._waiters  # nothing left behind once the requests are gone


async def test_loading_a_delivery_notifies_when_its_transaction_commits(
        pool: asyncpg.Pool, watch: finished.Watch) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
        supplier = await registry.get_supplier(conn, "BOKR")
    body = synthetic.delivery(5, ["Sods"], seed=12)

    async def one() -> AsyncIterator[bytes]:
        yield body

    received = await intake.receive(pool, supplier, one(), content_type="application/xml", max_body=10**6)
    with watch.watching(received.id) as done:
        assert not done.is_set()
        await loader.load_delivery(pool, received.id, org_code="FORVARV")
        await asyncio.wait_for(done.wait(), 10)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM deliveries WHERE id = $1", received.id) == "done"
