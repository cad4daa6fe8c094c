"""The OAI repository on PostgreSQL (protocols.oai.repository.Repository)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.oai import queries
from gateway.store import db
from protocols.oai.repository import BIB, HOLD, LIBRARY, SUPPLIER, Item, Payload, Scope, SetInfo
from protocols.oai.tokens import Position

#: Datestamp of the start position of a list without `from`.
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
#: Rows per list query: a larger page is fetched (and rendered) in batches.
BATCH = 500


def _batch_size(remaining: int) -> int:
    """BATCH, except that a lone last row (the "is there more?" probe) joins the batch before."""
    return remaining if remaining <= BATCH + 1 else BATCH


def _keyset(after: Position) -> tuple[datetime, int, int]:
    """(datestamp, bib id, holding id) to continue after: at equal datestamps bibs sort before
    holdings, so after a bib every holding of that datestamp is still to come, and after a
    holding no bib of it is."""
    if after.kind == 0:
        return after.datestamp, after.id, 0
    return after.datestamp, db.MAX_ID, after.id


def _item(row: asyncpg.Record) -> Item:
    kind, id, ds, deleted, sigel, marcxml, flag, summary, hxml = row
    unsafe = flag is not False  # NULL: the writer did not say (migration 0006), so clean it
    if kind == 1:
        return Item(HOLD, id, ds, deleted, [sigel], [], marcxml, unsafe, summary)
    item = Item(BIB, id, ds, deleted, [], [], marcxml, unsafe, summary)
    if hxml is not None:
        item.holdings = [(sigel, hxml)]
    return item


class ReplicaBehind(Exception):
    """A replica has not replayed the horizon a request needs (a resumed list's bound)."""


class SqlRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def earliest_datestamp(self) -> datetime | None:
        value: datetime | None = await self.pool.fetchval(queries.EARLIEST)
        return value

    async def horizon(self) -> datetime:
        """One statement of its own: every later query of the request reads a later snapshot."""
        value: datetime = await self.pool.fetchval(queries.HORIZON)
        return value

    async def list_sets(self, after: tuple[str, str] | None, limit: int, *, inclusive: bool = False) -> list[SetInfo]:
        """Libraries by sigel, then suppliers by code: at most two keyset queries."""
        kind, code = after if after is not None else (LIBRARY, None)
        if kind not in (LIBRARY, SUPPLIER):
            raise ValueError(f"no sets of kind {kind!r}")
        found: list[SetInfo] = []
        async with self.pool.acquire() as conn:
            if kind == LIBRARY:
                if code is None:
                    rows = await conn.fetch(queries.LIBRARIES, limit)
                else:
                    sql = queries.LIBRARIES_FROM if inclusive else queries.LIBRARIES_AFTER
                    rows = await conn.fetch(sql, code, limit)
                found = [SetInfo(LIBRARY, r["sigel"], r["name"]) for r in rows]
                code = None  # the suppliers from the first on
            if len(found) < limit:
                if code is None:
                    rows = await conn.fetch(queries.SUPPLIERS, limit - len(found))
                else:
                    sql = queries.SUPPLIERS_FROM if inclusive else queries.SUPPLIERS_AFTER
                    rows = await conn.fetch(sql, code, limit - len(found))
                found += [SetInfo(SUPPLIER, r["code"], r["name"]) for r in rows]
        return found

    async def count_sets(self) -> tuple[int, int]:
        row = await self.pool.fetchrow(queries.COUNT_SETS)
        return row[0], row[1]

    async def get_item(self, kind: str, id: int, payload: Payload) -> Item | None:
        row = await self.pool.fetchrow(queries.get_item(kind, payload), id)
        if row is None:
            return None
        item = _item(row)
        await self._add_sets([item], payload is Payload.WITH_HOLDINGS)
        return item

    async def _add_sets(self, items: list[Item], with_holdings: bool) -> None:
        """Libraries and suppliers of the page's live bibs (and their holdings records)."""
        bibs = {item.id: item for item in items if item.kind == BIB and not item.deleted}
        if not bibs:
            return
        rows = await self.pool.fetch(queries.SETS, list(bibs), with_holdings)
        holdings: dict[int, list[tuple[str, str]]] = {}
        for bib_id, sigel, code, marcxml in rows:
            item = bibs[bib_id]
            if code is not None:
                item.suppliers.append(code)
            else:
                item.sigels.append(sigel)
                if marcxml is not None:
                    holdings.setdefault(bib_id, []).append((sigel, marcxml))
        for item in bibs.values():
            item.sigels.sort()
            item.suppliers.sort()
        for bib_id, found in holdings.items():
            bibs[bib_id].holdings = sorted(found)

    async def list_items(
        self,
        scope: Scope,
        payload: Payload,
        lower: datetime | None,
        upper: datetime,
        after: Position | None,
        limit: int,
    ) -> AsyncGenerator[list[Item], None]:
        """The items in batches of at most BATCH rows (one query each), so that a large page
        size never holds more than a batch of records in memory.

        Measured: fetching the next batch while the previous one renders (a prefetch task)
        gained nothing on two cores, so batches are fetched one after the other.
        """
        sql = queries.list_items(scope, payload)
        with_holdings = payload is Payload.WITH_HOLDINGS and scope.sigel is None
        code = scope.sigel if scope.sigel is not None else scope.supplier
        if after is None:
            # Just before `lower`: every id is > 0.
            start, bib_after, hold_after = lower or _BEGINNING, 0, 0
        else:
            start, bib_after, hold_after = _keyset(after)
        remaining = limit
        while remaining > 0:
            size = _batch_size(remaining)
            args: list[Any]
            if scope.kind == "all":
                args = [start, bib_after, upper, size, hold_after]
            else:
                args = [start, bib_after if scope.kind == BIB else hold_after, upper, size]
                if code is not None:
                    args.append(code)
            items = await self._batch(sql, args, with_holdings)
            yield items
            if len(items) < size:
                return
            remaining -= size
            start, bib_after, hold_after = _keyset(items[-1].position)

    async def _batch(self, sql: str, args: list[Any], with_holdings: bool) -> list[Item]:
        rows = await self.pool.fetch(sql, *args)
        items = [_item(r) for r in rows]
        await self._add_sets(items, with_holdings)
        return items

    async def count_items(self, scope: Scope, lower: datetime | None, upper: datetime) -> int:
        args: list[Any] = [lower or _BEGINNING, upper]
        code = scope.sigel if scope.sigel is not None else scope.supplier
        if code is not None and scope.kind != "all":
            args.append(code)
        count: int = await self.pool.fetchval(queries.count_items(scope), *args)
        return count


class ReplicaRepository(SqlRepository):
    """The repository on a read replica: its horizon is the mark it has replayed (migration 0019).

    `at_least`: the bound of the list being resumed; a replica whose replayed horizon is earlier
    has not replayed every item of that list, so horizon() raises ReplicaBehind and the request
    goes elsewhere (gateway/oai/http.py)."""

    def __init__(self, pool: asyncpg.Pool, at_least: datetime | None = None) -> None:
        super().__init__(pool)
        self.at_least = at_least

    async def horizon(self) -> datetime:
        value: datetime | None = await self.pool.fetchval(queries.REPLAYED_HORIZON)
        if value is None or (self.at_least is not None and value < self.at_least):
            raise ReplicaBehind(f"replayed horizon {value} is before {self.at_least}")
        return value
