"""Two gateway processes at once, and a worker killed mid-delivery: one record per book, always."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator

import asyncpg

from gateway import registry
from gateway.config import Settings
from gateway.demo import synthetic
from gateway.intake import receive as intake
from gateway.intake import workers
from tests.intake.helpers import seed_registry

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 65536):
        yield data[i:i + 65536]


async def _receive(pool: asyncpg.Pool, code: str, body: bytes) -> int:
    async with pool.acquire() as conn:
        supplier = await registry.get_supplier(conn, code)
    received = await intake.receive(pool, supplier, _chunks(body), content_type="application/xml",
                                    max_body=10**9)
    return received.id


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.intake.procs", *args, cwd=PROJECT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_two_processes_loading_the_same_new_books_make_one_record_each(
        pool: asyncpg.Pool, db_url: str) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
        await registry.add_customer(conn, "ADLIB", "Li")
    n = 400
    # the same 400 new ISBNs from two suppliers (different 001s, different holdings library)
    a = await _receive(pool, "BOKR", synthetic.delivery(n, ["Sods"], seed=1))
    b = await _receive(pool, "ADLIB", synthetic.delivery(n, ["Li"], seed=2))
    procs = [await _spawn("load", db_url, str(d), "10") for d in (a, b)]
    results = await asyncio.gather(*(p.communicate() for p in procs))
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err.decode()[-3000:]
    async with pool.acquire() as conn:
        bibs = await conn.fetchval("SELECT count(*) FROM bib_records")
        per_isbn = await conn.fetch(
            "SELECT value, count(DISTINCT bib_id) AS n FROM bib_identifiers WHERE kind = 'isbn' GROUP BY value")
        holdings = await conn.fetchval("SELECT count(*) FROM holdings WHERE NOT deleted")
        outcomes = await conn.fetch(
            "SELECT outcome, count(*) AS n FROM delivery_records WHERE kind = 'bib' GROUP BY outcome")
    assert bibs == n
    assert len(per_isbn) == n and all(r["n"] == 1 for r in per_isbn)
    assert holdings == 2 * n
    counts = {r["outcome"]: r["n"] for r in outcomes}
    assert counts.get("created", 0) == n
    assert counts.get("created", 0) + counts.get("matched", 0) + counts.get("updated", 0) == 2 * n


async def test_worker_killed_mid_delivery_resumes_without_loss_or_doubles(
        pool: asyncpg.Pool, db_url: str) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
    n = 3000
    delivery_id = await _receive(pool, "BOKR", synthetic.delivery(n, ["Sods", "Nyks"], seed=3))
    proc = await _spawn("worker", db_url, "25")
    try:
        async with asyncio.timeout(120):
            while True:
                async with pool.acquire() as conn:
                    loaded = await conn.fetchval(
                        "SELECT count(*) FROM delivery_records WHERE delivery_id = $1", delivery_id)
                if loaded >= 200:
                    break
                await asyncio.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    async with pool.acquire() as conn:
        status, partial = await conn.fetchrow(
            "SELECT status, (SELECT count(*) FROM delivery_records WHERE delivery_id = $1) FROM deliveries "
            "WHERE id = $1", delivery_id)
    assert status == "processing"
    assert 0 < partial < 2 * n, "the kill should land mid-delivery"

    # a fresh worker (this process) picks the delivery up: the dead worker's lock died with it
    async with pool.acquire() as lease:
        assert await workers.process_one(pool, Settings(batch_size=100), lease)
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, attempts, summary FROM deliveries WHERE id = $1", delivery_id)
        positions = await conn.fetchval(
            "SELECT count(DISTINCT position) FROM delivery_records WHERE delivery_id = $1", delivery_id)
        bibs = await conn.fetchval("SELECT count(*) FROM bib_records")
        holdings = await conn.fetchval("SELECT count(*) FROM holdings")
    assert row["status"] == "done"
    assert row["attempts"] == 2
    assert positions == 2 * n
    assert bibs == n and holdings == n
    assert row["summary"]["created"] == n and row["summary"]["holdings_added"] == n
