"""The search index after commit (migration 0018, gateway/search/indexer.py): what a load commits
is queued in the same transaction and indexed afterwards; a crash in between loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg

from gateway import registry
from gateway.demo import synthetic
from gateway.intake import loader
from gateway.intake import receive as intake
from gateway.search import indexer
from tests.intake.helpers import seed_registry
from tests.sru.conftest import Endpoint, number_of_records

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: The advisory lock the indexer holds while it drains (migration 0018): held here, no indexer runs.
SEARCH_LOCK = "SELECT pg_advisory_lock(x'46565358'::int, 0)"
SEARCH_UNLOCK = "SELECT pg_advisory_unlock(x'46565358'::int, 0)"


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 65536):
        yield data[i:i + 65536]


async def _receive(pool: asyncpg.Pool, body: bytes) -> int:
    async with pool.acquire() as conn:
        supplier = await registry.get_supplier(conn, "BOKR")
    received = await intake.receive(pool, supplier, _chunks(body), content_type="application/xml",
                                    max_body=10**9)
    return received.id


async def _hits(sru: Endpoint, isbns: list[str]) -> list[int | None]:
    return [number_of_records(await sru.get(operation="searchRetrieve", version="1.2",
                                            query=f"bath.isbn = {isbn}", maximumRecords=0))
            for isbn in isbns]


async def _all_found(sru: Endpoint, isbns: list[str]) -> bool:
    return await _hits(sru, isbns) == [1] * len(isbns)


async def _all_done(conn: asyncpg.Connection, deliveries: list[int]) -> bool:
    return all([await _done(conn, d) for d in deliveries])


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 120) -> None:
    """Poll `check` until it holds (a bound on a wait, not a speed assertion)."""
    async with asyncio.timeout(seconds):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


async def _done(conn: asyncpg.Connection, delivery_id: int) -> bool:
    return await conn.fetchval("SELECT status FROM deliveries WHERE id = $1", delivery_id) == "done"


async def _spawn_worker(db_url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.intake.procs", "worker", db_url, "50", cwd=PROJECT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def test_worker_killed_between_commit_and_indexing_loses_no_index_entry(
        pool: asyncpg.Pool, db_url: str, sru: Endpoint) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
    n = 300
    isbns = [synthetic.isbn13(i, "97891") for i in (0, n // 2, n - 1)]
    delivery_id = await _receive(pool, synthetic.delivery(n, ["Sods"], seed=11))
    # This connection holds the indexer's lock: the worker loads and commits, its indexer cannot start.
    holder = await asyncpg.connect(db_url)
    try:
        await holder.execute(SEARCH_LOCK)
        proc = await _spawn_worker(db_url)
        try:
            await _until(lambda: _done(holder, delivery_id))
            queued = await holder.fetchval("SELECT count(*) FROM search_queue")
            created = await holder.fetchval("SELECT count(*) FROM bib_records")
            assert created == n and queued > 0
            assert await _hits(sru, isbns) == [0, 0, 0]  # committed, not yet searchable
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        await holder.execute(SEARCH_UNLOCK)
    finally:
        await holder.close()
    assert await _hits(sru, isbns) == [0, 0, 0]  # the queue outlived the worker, unindexed

    proc = await _spawn_worker(db_url)  # a new worker's indexer finds the queue at its first poll
    try:
        await _until(lambda: _all_found(sru, isbns))
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = await proc.communicate()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM search_queue") == 0
        assert await conn.fetchval("SELECT count(*) FROM bib_search") == n
    assert b"Traceback" not in err, err.decode()[-2000:]


async def test_load_without_an_indexer_is_searchable_when_it_returns(pool: asyncpg.Pool, sru: Endpoint) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
    delivery_id = await _receive(pool, synthetic.delivery(120, ["Sods"], seed=12))
    await loader.load_delivery(pool, delivery_id, org_code="FORVARV", batch_size=20)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM search_queue") == 0
        assert await conn.fetchval("SELECT count(*) FROM bib_search") == 120
    assert await _hits(sru, [synthetic.isbn13(7, "97891")]) == [1]


async def test_a_drain_after_a_later_change_indexes_the_record_as_it_is(pool: asyncpg.Pool, sru: Endpoint) -> None:
    """Queued by a load, then changed by an immediate writer (a review action's way), then drained:
    the index holds the record as committed last, once."""
    async with pool.acquire() as conn:
        await seed_registry(conn)
    delivery_id = await _receive(pool, synthetic.delivery(40, ["Sods"], seed=13))
    holder = await pool.acquire()
    try:
        await holder.execute(SEARCH_LOCK)  # no drain inside load_delivery: it waits for this lock
        load = asyncio.create_task(loader.load_delivery(pool, delivery_id, org_code="FORVARV", batch_size=10))
        async with pool.acquire() as conn:
            await _until(lambda: _done(conn, delivery_id))
            record = await conn.fetchval("SELECT min(id) FROM bib_records")
        await holder.execute(SEARCH_UNLOCK)
        async with pool.acquire() as conn:
            # an immediate writer: indexed at its commit (it waits for no drain: the loader's is first
            # or after it, and either order gives the same index)
            await conn.execute("UPDATE bib_records SET summary = summary || '{\"title\": \"Zyxwvut\"}' "
                               "WHERE id = $1", record)
        await load
    finally:
        await pool.release(holder)
    title = await sru.get(operation="searchRetrieve", version="1.2", query="dc.title = zyxwvut", maximumRecords=0)
    assert number_of_records(title) == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM search_queue") == 0
        assert await conn.fetchval("SELECT count(*) FROM bib_search") == 40


async def test_indexers_at_once_take_turns_and_index_each_record_once(pool: asyncpg.Pool) -> None:
    """Three loads waiting to drain, two indexers that find the lock busy: once it is free, every
    record is indexed once and the queue is empty."""
    async with pool.acquire() as conn:
        await seed_registry(conn)
    deliveries = [await _receive(pool, synthetic.delivery(60, ["Sods"], seed=20 + k, start=1000 * k))
                  for k in range(3)]
    holder = await pool.acquire()
    try:
        await holder.execute(SEARCH_LOCK)
        loads = [asyncio.create_task(loader.load_delivery(pool, d, org_code="FORVARV", batch_size=10))
                 for d in deliveries]
        async with pool.acquire() as conn:
            await _until(lambda: _all_done(conn, deliveries))
        assert await indexer.drain(pool, wait=False) is None  # busy: the caller tries again later
        await holder.execute(SEARCH_UNLOCK)
        await asyncio.gather(*loads, indexer.drain(pool, wait=True))
    finally:
        await pool.release(holder)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM search_queue") == 0
        assert await conn.fetchval("SELECT count(*) FROM bib_search") == 180
        assert await conn.fetchval("SELECT count(*) FROM search_terms WHERE bib_id NOT IN "
                                   "(SELECT bib_id FROM bib_search)") == 0
