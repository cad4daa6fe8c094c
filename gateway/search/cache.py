"""The SRU result cache: searchRetrieve answers kept in the web process while nothing they were
read from has changed (docs/sru.md, "Result cache"; docs/decisions.md).

Every transaction that writes a table an answer is read from notifies ``forvarv_search`` at its
commit (migration 0020). A web process listens on a connection of its own (:class:`Listener`);
each notification bumps the cache's generation and empties it. An answer is stored only under
the generation that was current when its statement was sent, and only if that is still the
generation when the answer comes back: it was then read from a snapshot that holds every change
whose notification had arrived. While the listening connection is down (lost, terminated, not
yet open) the cache is empty and bypassed; when it is back, it is emptied once more (changes
made meanwhile sent their notifications to no one) before it is used again.

What a cached answer may miss is a change whose notification is still on its way: PostgreSQL
sends it at the writer's commit, and the web process applies it when its event loop reads it
(well under a millisecond on one machine). The search index of a load already trails the load's
commit by the indexer's drain (migration 0018), which notifies in turn.

Keys are the resolved query (protocols.sru.nodes: indexes, relations and terms parsed, so
``Word``, ``cql.serverChoice = word`` and ``"word"`` are one key), the sort keys, the page
(offset, limit) and what the record schema needs (holdings, summaries). Memory is bounded by an
estimate of the answers' size (``Settings.sru_cache_mb``), least recently used first out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypeAlias

import asyncpg

from gateway.store.queries import load
from protocols.sru.indexes import Index
from protocols.sru.query import Expr, SortKey
from protocols.sru.service import ScanResult, SearchBackend, SearchResult

log = logging.getLogger(__name__)
Q = load("search_cache")
CHANNEL = "forvarv_search"
#: How often the listening connection is checked with a round trip (a connection that died
#: without closing its socket), and how long a reconnection attempt waits after a failure.
PING_SECONDS = 5.0
RETRY_SECONDS = 1.0
#: Per entry, besides the answer's strings: the key, the result objects, the LRU's links.
ENTRY_OVERHEAD = 512
#: An answer larger than this share of the cache is not kept (it would push out many others).
LARGEST_SHARE = 8

Key: TypeAlias = tuple[Expr, tuple[SortKey, ...], int, int, bool, bool]
Answer: TypeAlias = SearchResult | str


def answer_size(result: Answer) -> int:
    """Bytes the answer (a search result or a response document) holds, estimated: its strings
    and summaries."""
    size = ENTRY_OVERHEAD
    if isinstance(result, str):
        return size + sys.getsizeof(result)
    for record in result.records:
        size += 128 + sys.getsizeof(record.marcxml) + _size(record.summary)
        size += sum(sys.getsizeof(sigel) + sys.getsizeof(xml) + 64 for sigel, xml in record.holdings)
    return size


def _size(value: Any) -> int:
    if isinstance(value, Mapping):
        return sys.getsizeof(value) + sum(_size(k) + _size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sys.getsizeof(value) + sum(_size(v) for v in value)
    return sys.getsizeof(value)


class ResultCache:
    """Answers by key, valid for one generation; bypassed while no listener is attached.

    Search results (:class:`CachingBackend`) and, as the SRU service's
    :class:`~protocols.sru.service.Memo`, whole response documents share it."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.generation = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, tuple[Answer, int]] = OrderedDict()
        self._bytes = 0
        self._listener: asyncpg.Connection | None = None

    @property
    def live(self) -> bool:
        """Whether the cache is in use: its listening connection is open."""
        return self._listener is not None and not self._listener.is_closed()

    def attached_to(self, conn: asyncpg.Connection) -> bool:
        return self._listener is conn

    @property
    def size(self) -> int:
        """Bytes held, estimated (:func:`answer_size`)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def status(self) -> dict[str, int]:
        """For /metrics (gateway.ops.metrics.watch_sru_cache)."""
        return {"on": int(self.live), "hits": self.hits, "misses": self.misses, "bytes": self._bytes}

    def attach(self, conn: asyncpg.Connection) -> None:
        """``conn`` now listens: start afresh (what changed before it listened is unknown)."""
        self.invalidate()
        self._listener = conn

    def detach(self, conn: asyncpg.Connection | None = None) -> None:
        """The listening connection (``conn``, if given: only if it is still the attached one) is
        gone: empty and bypassed until one is attached again."""
        if conn is not None and conn is not self._listener:
            return
        self._listener = None
        self.invalidate()

    def invalidate(self) -> None:
        """Something changed: nothing stored before holds any more."""
        self.generation += 1
        self._entries.clear()
        self._bytes = 0

    def get(self, key: Hashable) -> Answer | None:
        if not self.live:
            return None
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    def put(self, generation: int, key: Hashable, result: Answer) -> None:
        """Keep ``result``, read by a statement sent at ``generation``, if that is still current."""
        if generation != self.generation or not self.live:
            return
        size = answer_size(result)
        if size * LARGEST_SHARE > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._entries[key] = (result, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped

    # --- protocols.sru.service.Memo: response documents ----------------------------------------
    def stamp(self) -> int | None:
        return self.generation if self.live else None

    def recall(self, key: Hashable) -> str | None:
        found = self.get(key)
        return found if isinstance(found, str) else None

    def remember(self, stamp: int, key: Hashable, document: str) -> None:
        self.put(stamp, key, document)


class CachingBackend:
    """A :class:`~protocols.sru.service.SearchBackend` answering repeated searches from a
    :class:`ResultCache`, the others (and every scan) from ``backend``."""

    def __init__(self, backend: SearchBackend, cache: ResultCache) -> None:
        self.backend = backend
        self.cache = cache

    async def search(
        self, expr: Expr, sort: Sequence[SortKey], offset: int, limit: int, *, holdings: bool,
        summary: bool = True,
    ) -> SearchResult:
        cache = self.cache
        key: Key = (expr, tuple(sort), offset, limit, holdings, summary)
        found = cache.get(key)
        if isinstance(found, SearchResult):
            return found
        generation = cache.generation  # before the statement is sent (see the module docstring)
        result = await self.backend.search(expr, sort, offset, limit, holdings=holdings, summary=summary)
        cache.put(generation, key, result)
        return result

    async def scan(self, index: Index, term: str, before: int, after: int, *, inclusive: bool) -> ScanResult:
        return await self.backend.scan(index, term, before, after, inclusive=inclusive)


class Listener:
    """Keeps a connection listening on :data:`CHANNEL` and the cache attached to it; reconnects
    when it is lost (the cache is bypassed meanwhile)."""

    def __init__(self, url: str, cache: ResultCache) -> None:
        self.url = url
        self.cache = cache
        #: Set while the cache is attached (tests wait on it after killing the connection).
        self.attached = asyncio.Event()
        self._was_on = False

    def _notified(self, conn: object, pid: int, channel: str, payload: object) -> None:
        self.cache.invalidate()

    async def run(self) -> None:
        """Until cancelled. A warning when the cache goes off (or cannot start); the retries while
        it stays off are logged at debug."""
        quiet = False
        while True:
            self._was_on = False
            try:
                await self._listen()
            except Exception as exc:  # whatever it was, the cache is off (bypassed) until this works again
                level = logging.WARNING if self._was_on or not quiet else logging.DEBUG
                log.log(level, "SRU result cache off (%s: %s); answers come from the database until its"
                        " listening connection is back", type(exc).__name__, exc)
                quiet = True
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(self.url, timeout=PING_SECONDS)
        lost = asyncio.Event()

        def closed(_conn: object) -> None:  # called soon after the connection closed
            self._detach(conn)
            lost.set()

        try:
            conn.add_termination_listener(closed)
            await conn.add_listener(CHANNEL, self._notified)
            self.cache.attach(conn)
            self.attached.set()
            self._was_on = True
            log.info("SRU result cache on (listening for index changes)")
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), PING_SECONDS)
                if not lost.is_set():
                    await conn.fetchval(Q["ping"], timeout=PING_SECONDS)
            raise ConnectionResetError("the listening connection was closed")
        finally:
            self._detach(conn)
            if not conn.is_closed():
                conn.terminate()

    def _detach(self, conn: asyncpg.Connection | None = None) -> None:
        if conn is None or self.cache.attached_to(conn):
            self.attached.clear()
        self.cache.detach(conn)
