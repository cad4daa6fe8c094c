"""The SQL repository on its own: batches, early close, horizon, counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from gateway.oai import repository
from gateway.oai.repository import SqlRepository
from gateway.store import db
from protocols.oai.repository import Payload, Scope
from tests.oai import seed

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)


async def _populate(pool: asyncpg.Pool, n: int) -> list[int]:
    async with pool.acquire() as conn:
        await seed.add_library(conn, "S", "KB")
        ids = []
        for i in range(n):
            ids.append(await seed.add_bib(conn, f"Bok {i}", at=T0 + timedelta(seconds=i // 4)))
            await seed.add_holding(conn, ids[-1], "S", at=T0)
    return ids


async def test_batches_follow_the_keyset(pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repository, "BATCH", 4)
    ids = await _populate(pool, 23)
    repo = SqlRepository(pool)
    batches = [b async for b in repo.list_items(Scope("bib"), Payload.MARCXML, None, FAR, None, 21)]
    assert [len(b) for b in batches] == [4, 4, 4, 4, 5]
    assert [i.id for b in batches for i in b] == ids[:21]
    assert all(i.sigels == ["S"] and i.marcxml for b in batches for i in b)
    rest = [b async for b in repo.list_items(Scope("bib"), Payload.NONE, None, FAR, batches[-1][-1].position, 99)]
    assert [i.id for b in rest for i in b] == ids[21:]
    assert await repo.count_items(Scope("bib"), None, FAR) == 23
    assert await repo.count_items(Scope("bib"), T0 + timedelta(seconds=5), FAR) == 3
    assert await repo.count_items(Scope("bib", sigel="S"), None, FAR) == 23
    assert await repo.count_items(Scope("all"), None, FAR) == 46


async def test_closing_early_leaves_no_query_behind(pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repository, "BATCH", 3)
    await _populate(pool, 12)
    repo = SqlRepository(pool)
    gen = repo.list_items(Scope("all"), Payload.MARCXML, None, FAR, None, 20)
    first = await anext(gen)
    assert len(first) == 3
    await gen.aclose()  # the harvest stopped mid-page
    await asyncio.sleep(0)
    assert pool.get_idle_size() == pool.get_size()


async def test_horizon_is_held_by_registered_writers_only(pool: asyncpg.Pool, db_url: str) -> None:
    """The horizon is the present unless a writer has taken a datestamp and not yet ended; then
    it is at or before that datestamp, whatever the writer did before (reading holds nothing)."""
    repo = SqlRepository(pool)
    async with pool.acquire() as conn:
        before: datetime = await conn.fetchval("SELECT clock_timestamp()")
    horizon = await repo.horizon()
    assert before < horizon < before + timedelta(seconds=1)
    other = await db.connect(db_url)
    try:
        async with other.transaction():
            started: datetime = await other.fetchval("SELECT now(), count(*) FROM bib_records")  # a read
            await asyncio.sleep(0.05)
            assert await repo.horizon() > started + timedelta(seconds=0.05)  # a reader holds nothing
            await asyncio.sleep(1.1)
            stamp: datetime = await other.fetchval("SELECT oai_datestamp()")
            assert await other.fetchval("SELECT oai_datestamp()") == stamp  # one per transaction
            await asyncio.sleep(1.1)
            held = await repo.horizon()
            assert stamp - timedelta(seconds=1) < held <= stamp  # its key: the whole second before
    finally:
        await other.close()
    assert await repo.horizon() > stamp + timedelta(seconds=1)
