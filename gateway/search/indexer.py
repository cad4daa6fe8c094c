"""The search index after commit: draining `search_queue` (migration 0018).

A loader batch's transaction writes its records and one queue row naming them (the bib_records
triggers do, because the batch sets `forvarv.search_deferred`); after it commits, the worker
process's `SearchIndexer` is poked and indexes what is queued, a few queue rows per transaction,
oldest first. The queue row goes in the transaction that indexes it, so a crash anywhere leaves
either the row (indexed by whoever drains next) or the index: nothing is lost, and indexing again
changes nothing. One indexer works at a time across all processes (an advisory lock the drain
function takes); another process's indexer that finds it busy waits a moment and tries again.
Every process that runs workers runs an indexer, and each polls the queue once a second, so rows
left by a process that died are indexed by the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from gateway.store.queries import load

log = logging.getLogger(__name__)
Q = load("search_queue")

#: Queue rows per indexing transaction (one per loader batch: a few hundred records each).
ENTRIES = 8
#: How often an idle indexer looks at the queue anyway (rows of processes that died), and how long
#: it waits when another process's indexer is draining.
POLL_SECONDS = 1.0
BUSY_SECONDS = 0.05


async def defer(conn: asyncpg.Connection) -> None:
    """Inside a transaction: queue the records it writes instead of indexing them."""
    await conn.execute(Q["defer"])


async def drain(pool: asyncpg.Pool, *, wait: bool) -> int | None:
    """Index what is queued now, transaction by transaction, until the queue is empty; the records
    indexed. With `wait`, wait for another indexer at work, else return None when there is one."""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            n = await conn.fetchval(Q["index_queued"], ENTRIES, wait)
        if n is None:
            return None
        if n == 0:
            return total
        total += n


class SearchIndexer:
    """A process's indexer: drains the queue when poked (after a batch commits) and once a second."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._wake = asyncio.Event()

    def poke(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                await self._drain(stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("search indexer: %s; retrying", exc)
                await asyncio.sleep(POLL_SECONDS)

    async def _drain(self, stop: asyncio.Event) -> None:
        busy = await drain(self.pool, wait=False) is None
        while busy and not stop.is_set():  # another process's indexer is at it: try again shortly
            await asyncio.sleep(BUSY_SECONDS)
            busy = await drain(self.pool, wait=False) is None
