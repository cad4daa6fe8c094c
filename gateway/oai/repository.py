"""The OAI repository on PostgreSQL (protocols.oai.repository.Repository)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.oai import queries
from protocols.oai.repository import BIB, HOLD, Item, Payload, Scope, SetInfo
from protocols.oai.tokens import Position

#: Datestamp of the start position of a list without `from`.
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_ID = 2**63 - 1
#: Seconds the horizon stays behind the present (see queries.HORIZON).
HORIZON_MARGIN = 0.05


def _item(row: asyncpg.Record) -> Item:
    kind, id, ds, deleted, sigels, suppliers, marcxml, summary, hsigels, hxml = row
    return Item(
        BIB if kind == 0 else HOLD,
        id,
        ds,
        deleted,
        sigels,
        suppliers,
        marcxml,
        summary,
        list(zip(hsigels, hxml, strict=True)) if hsigels else [],
    )


class SqlRepository:
    def __init__(self, pool: asyncpg.Pool, horizon_margin: float = HORIZON_MARGIN) -> None:
        self.pool = pool
        self.horizon_margin = horizon_margin

    async def earliest_datestamp(self) -> datetime | None:
        value: datetime | None = await self.pool.fetchval(queries.EARLIEST)
        return value

    async def horizon(self) -> datetime:
        value: datetime = await self.pool.fetchval(queries.HORIZON, self.horizon_margin)
        return value

    async def list_sets(self) -> list[SetInfo]:
        async with self.pool.acquire() as conn:
            libraries = await conn.fetch(queries.LIBRARIES)
            suppliers = await conn.fetch(queries.SUPPLIERS)
        return [SetInfo("library", r["sigel"], r["name"]) for r in libraries] + [
            SetInfo("supplier", r["code"], r["name"]) for r in suppliers
        ]

    async def get_item(self, kind: str, id: int, payload: Payload) -> Item | None:
        row = await self.pool.fetchrow(queries.get_item(kind, payload), id)
        return None if row is None else _item(row)

    async def list_items(
        self,
        scope: Scope,
        payload: Payload,
        lower: datetime | None,
        upper: datetime,
        after: Position | None,
        limit: int,
    ) -> list[Item]:
        if after is None:
            # Position "just before lower": every id is > 0.
            start, bib_after, hold_after = lower or _BEGINNING, 0, 0
        else:
            start = after.datestamp
            bib_after = after.id if after.kind == 0 else _MAX_ID
            hold_after = after.id if after.kind == 1 else 0
        args: list[Any]
        if scope.kind == "all":
            args = [start, bib_after, upper, limit, hold_after]
        else:
            args = [start, bib_after if scope.kind == BIB else hold_after, upper, limit]
            code = scope.sigel if scope.sigel is not None else scope.supplier
            if code is not None:
                args.append(code)
        rows = await self.pool.fetch(queries.list_items(scope, payload), *args)
        return [_item(r) for r in rows]

    async def count_items(self, scope: Scope, lower: datetime | None, upper: datetime) -> int:
        args: list[Any] = [lower or _BEGINNING, upper]
        code = scope.sigel if scope.sigel is not None else scope.supplier
        if code is not None and scope.kind != "all":
            args.append(code)
        count: int = await self.pool.fetchval(queries.count_items(scope), *args)
        return count
