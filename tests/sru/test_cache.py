"""The SRU result cache (gateway/search/cache.py, migration 0020): repeated searches are answered
from the web process, and never after what they were read from changed: a load's indexing, a
record's update or deletion, a holding, or a lost listening connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from lxml import etree

from gateway.demo import synthetic
from gateway.intake import loader
from gateway.ops import metrics
from gateway.search.cache import CachingBackend, Listener, ResultCache
from gateway.search.http import SRU_CACHE
from gateway.search.repository import PostgresBackend
from protocols.sru.explain import ServiceInfo
from protocols.sru.service import SearchResult, SRUService
from tests.intake.helpers import seed_registry
from tests.sru.conftest import Endpoint, codes, number_of_records, validate
from tests.sru.seed import Book, add_books, add_library, holding_xml
from tests.sru.test_index_queue import SEARCH_LOCK, SEARCH_UNLOCK, _done, _receive
from tests.sru.test_protocol import SlowBackend

#: A bound on each wait below (for a notification, a reconnection): not a speed assertion.
WAIT = 60


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def _written(cache: ResultCache, write: Awaitable[None]) -> None:
    """``write`` (one transaction), and then its notification's arrival."""
    before = cache.generation

    async def arrived() -> bool:
        return cache.generation > before

    await write
    await _until(arrived)


async def _settled(pool: asyncpg.Pool, cache: ResultCache) -> None:
    """Every notification of what committed before now has arrived: a statement that changes
    nothing still notifies, and notifications arrive in commit order."""
    async def marker() -> None:
        async with pool.acquire() as conn:
            await conn.execute("UPDATE suppliers SET name = name WHERE false")

    await _written(cache, marker())


@pytest.fixture
async def cached(pool: asyncpg.Pool, db_url: str) -> AsyncIterator[Endpoint]:
    endpoint = Endpoint(pool, db_url, cache_mb=8)
    await endpoint.start()
    async with asyncio.timeout(WAIT):
        await listener(endpoint).attached.wait()
    yield endpoint
    await endpoint.close()
    for body in endpoint.bodies:
        validate(body)


def listener(endpoint: Endpoint) -> Listener:
    assert endpoint.server is not None
    return endpoint.server.app[SRU_CACHE]


async def count(endpoint: Endpoint, query: str) -> int | None:
    return number_of_records(await endpoint.get(operation="searchRetrieve", version="1.2", query=query,
                                                maximumRecords=0))


async def test_a_repeated_search_is_answered_from_the_cache(pool: asyncpg.Pool, cached: Endpoint) -> None:
    cache = listener(cached).cache
    await _written(cache, add_books(pool, [Book(1, "Vinterns brev"), Book(2, "Sommarens brev")]))
    assert await count(cached, "brev") == 2
    hits = cache.hits
    assert await count(cached, "brev") == 2  # the same request: the document kept
    assert await count(cached, 'cql.serverChoice = "brev"') == 2  # the same search: the result kept
    assert cache.hits == hits + 2
    assert len(cache) > 0
    series = metrics.snapshot()  # what /metrics shows of it
    assert "forvarv_sru_cache_on 1.0" in series
    assert f"forvarv_sru_cache_hits_total {float(cache.hits)}" in series


async def test_a_cached_count_changes_after_a_loads_records_are_indexed(
        pool: asyncpg.Pool, cached: Endpoint) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
    isbns = [synthetic.isbn13(i, "97891") for i in (0, 20, 39)]
    queries = [f"bath.isbn = {isbn}" for isbn in isbns]
    cache = listener(cached).cache
    assert [await count(cached, q) for q in queries] == [0, 0, 0]
    delivery_id = await _receive(pool, synthetic.delivery(40, ["Sods"], seed=31))
    holder = await pool.acquire()
    try:
        await holder.execute(SEARCH_LOCK)  # the load commits; its drain waits for this lock
        load = asyncio.create_task(loader.load_delivery(pool, delivery_id, org_code="FORVARV", batch_size=10))
        await _until(lambda: _done(holder, delivery_id))
        await _settled(pool, cache)
        assert [await count(cached, q) for q in queries] == [0, 0, 0]  # committed, not yet indexed
        hits = cache.hits
        assert [await count(cached, q) for q in queries] == [0, 0, 0]
        assert cache.hits > hits  # answered from the cache while nothing changed
        await holder.execute(SEARCH_UNLOCK)
        await load  # the drain has committed
    finally:
        await pool.release(holder)

    async def all_found() -> bool:
        return [await count(cached, q) for q in queries] == [1, 1, 1]

    await _until(all_found)  # never, if indexing did not reach the cache


async def test_updates_deletions_and_holdings_reach_the_cache(pool: asyncpg.Pool, cached: Endpoint) -> None:
    await add_books(pool, [Book(11, "Fjällets röst", isbns=["9789150222319"]), Book(12, "Fjällets vår")])
    assert await count(cached, "fjällets") == 2
    async with pool.acquire() as conn:  # an immediate writer (a review action's way): indexed at commit
        await conn.execute("UPDATE bib_records SET summary = summary || '{\"title\": \"Havets röst\"}'"
                           " WHERE id = 12")
    await _until(lambda: _counts_to(cached, "fjällets", 1))
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM bib_identifiers WHERE bib_id = 11")
        await conn.execute("DELETE FROM bib_records WHERE id = 11")
    await _until(lambda: _counts_to(cached, "fjällets", 0))
    await _until(lambda: _counts_to(cached, "bath.isbn = 9789150222319", 0))

    # the holdings schema's records carry live holdings: a new holding reaches a kept document
    params = {"operation": "searchRetrieve", "version": "1.2", "query": "rec.id = 12",
              "recordSchema": "marc21_withholdings"}

    async def with_holding() -> bool:
        root = await cached.get(**params)
        return b"Nyks" in etree.tostring(root)

    assert not await with_holding()
    assert not await with_holding()
    async with pool.acquire() as conn:
        await add_library(conn, "Nyks")
        await conn.execute("INSERT INTO holdings (id, bib_id, sigel, marcxml, deleted) VALUES (120, 12, 'Nyks', $1,"
                           " false)", holding_xml(120, 12, "Nyks"))
    await _until(with_holding)
    assert await count(cached, "bath.possessingInstitution = Nyks") == 1


async def test_no_stale_answer_after_the_listening_connection_is_killed(
        pool: asyncpg.Pool, cached: Endpoint) -> None:
    watcher = listener(cached)
    cache = watcher.cache
    await _written(cache, add_books(pool, [Book(21, "Bergets sång")]))
    assert await count(cached, "bergets") == 1
    assert await count(cached, "bergets") == 1
    assert len(cache) > 0
    pid = cache._listener.get_server_pid() if cache._listener is not None else None
    assert pid is not None
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_terminate_backend($1, $2)", pid, WAIT * 1000)

    async def noticed() -> bool:
        return not cache.live

    await _until(noticed)  # the web process has seen its connection go
    assert len(cache) == 0
    # changed while nobody listens: no notification reaches the cache, yet nothing stale is served
    await add_books(pool, [Book(22, "Bergets vinter")])
    assert await count(cached, "bergets") == 2
    async with asyncio.timeout(WAIT):
        await watcher.attached.wait()  # listening again, on a new connection
    assert cache._listener is not None and cache._listener.get_server_pid() != pid
    await _settled(pool, cache)
    assert await count(cached, "bergets") == 2
    hits = cache.hits
    assert await count(cached, "bergets") == 2
    assert cache.hits == hits + 1  # in use again
    await add_books(pool, [Book(23, "Bergets höst")])
    await _until(lambda: _counts_to(cached, "bergets", 3))


async def _counts_to(endpoint: Endpoint, query: str, expected: int) -> bool:
    return await count(endpoint, query) == expected


async def test_a_failed_search_is_not_kept(pool: asyncpg.Pool) -> None:
    """A diagnostic may be passing (a statement that took too long): it is answered, never kept."""
    await add_books(pool, [Book(31, "Skogens ljus")])
    params = {"version": ["1.2"], "operation": ["searchRetrieve"], "query": ["skogens"]}
    info = ServiceInfo("127.0.0.1", 80, "sru")
    async with pool.acquire() as conn:
        cache = ResultCache(max_bytes=1024 * 1024)
        cache.attach(conn)
        slow = SRUService(CachingBackend(SlowBackend(pool, timeout_ms=50), cache), info, memo=cache)
        assert codes(validate((await slow.handle(params)).encode())) == [1]
        assert len(cache) == 0
        fast = SRUService(CachingBackend(PostgresBackend(pool, timeout_ms=5000), cache), info, memo=cache)
        assert number_of_records(validate((await fast.handle(params)).encode())) == 1
        assert len(cache) == 2  # the search's result and the response document
        cache.detach()


async def test_the_cache_keeps_to_its_size_least_recently_used_out(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        cache = ResultCache(max_bytes=64 * 1024)
        cache.attach(conn)
        document = "x" * 2000
        for n in range(200):
            if n % 10 == 0:
                assert cache.get("first") is not None or n == 0  # kept in use: never the one to go
                if n == 0:
                    cache.put(cache.generation, "first", SearchResult(1))
            cache.put(cache.generation, ("doc", n), document)
            assert cache.size <= cache.max_bytes
        assert cache.get("first") is not None
        assert cache.get(("doc", 0)) is None and cache.get(("doc", 199)) is not None
        cache.put(cache.generation, "large", "y" * 32 * 1024)  # over an eighth of the cache: not kept
        assert cache.get("large") is None
        stale = cache.generation
        cache.invalidate()
        cache.put(stale, "late", SearchResult(2))  # read before a change: not kept
        assert cache.get("late") is None and len(cache) == 0
        cache.detach()
        cache.put(cache.generation, "off", SearchResult(3))
        assert cache.get("off") is None
