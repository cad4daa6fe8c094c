"""A process's heartbeat row on the real database (gateway/ops/heartbeat.py)."""

from __future__ import annotations

import asyncio

import asyncpg

from gateway.ops.heartbeat import Heartbeat


async def test_beats_at_once_after_the_row_expired_register_it_once(pool: asyncpg.Pool) -> None:
    """The row was deleted as expired (the process stalled) and two beats come together (the
    periodic one and a /metrics scrape's): the process gets one new row, not two that would count
    it twice and repeat its series in every scrape."""
    beat = Heartbeat(pool, "web", ("http",), interval=5.0, snapshot=lambda: "# nothing\n")
    await beat.start()
    try:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM processes WHERE id = $1", beat.id)
        await asyncio.gather(beat.beat(), beat.beat(), beat.beat())
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT id FROM processes WHERE pid = $1 AND host = $2", beat.pid, beat.host)
        assert [r["id"] for r in rows] == [beat.id]
    finally:
        await beat.stop()
