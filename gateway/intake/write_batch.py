"""One batch, one transaction: bibliographic records, holdings and the per-record results.

The results are written with the records, so they are also the progress: a delivery resumed
after a crash skips the positions it already has. A deadlock or serialization failure retries
the whole batch with its decisions reset.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.intake.batches import BibItem, HoldingItem, ParentInfo
from gateway.intake.context import Context
from gateway.intake.write_bibs import write_bibs
from gateway.intake.write_holdings import write_holdings
from gateway.search import indexer

log = logging.getLogger(__name__)
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
_RESULT_COLUMNS = ("delivery_id", "position", "kind", "parent_position", "supplier_id", "identifiers", "outcome",
                   "record_id", "holding_id", "sigel", "candidates", "title", "errors", "warnings")


def _stamp(now: datetime) -> str:
    """The 005 of records written at `now`."""
    return now.strftime("%Y%m%d%H%M%S.0")


async def _write_batch(conn: asyncpg.Connection, ctx: Context, bibs: list[BibItem],
                       holdings: list[HoldingItem], parents: dict[int, ParentInfo]) -> None:
    stamp = _stamp(datetime.now(UTC))
    await indexer.defer(conn)  # the records are queued for the search index, indexed after commit
    by_position = await write_bibs(conn, ctx, bibs, stamp)
    await write_holdings(conn, ctx, holdings, by_position, stamp, parents)
    await _write_results(conn, ctx, bibs, holdings)


async def _write_results(conn: asyncpg.Connection, ctx: Context, bibs: list[BibItem],
                         holdings: list[HoldingItem]) -> None:
    did = ctx.delivery_id
    rows: list[tuple[Any, ...]] = []
    for b in bibs:
        p = b.prepared
        rows.append((did, p.position, "bib", None, p.own_id, p.keys, b.outcome, b.record_id, None,
                     None, b.candidates, p.title, p.errors, p.warnings))
    for h in holdings:
        rows.append((did, h.position, "holding", h.parent_position, h.own_id, [], h.outcome, h.parent_record,
                     h.holding_id, h.sigel, [], None, h.errors, h.warnings))
    if rows:
        await conn.copy_records_to_table("delivery_records", records=rows, columns=_RESULT_COLUMNS)


async def write_batch(pool: asyncpg.Pool, ctx: Context, bibs: list[BibItem], holdings: list[HoldingItem],
                      parents: dict[int, ParentInfo] | None = None, attempts: int = 5) -> None:
    """One transaction per batch; retried on deadlock or serialization failure.

    Writing changes nothing it was given (the stored text is filled from templates), so a retry
    starts over with the decisions (outcomes, ids, errors found while writing) reset.
    """
    saved = [(h, list(h.errors), h.parent_record) for h in holdings]
    for attempt in range(1, attempts + 1):
        try:
            async with pool.acquire() as conn, conn.transaction():
                await _write_batch(conn, ctx, bibs, holdings, parents if parents is not None else {})
            if ctx.on_commit is not None:
                ctx.on_commit()
            return
        except _RETRYABLE:
            if attempt == attempts:
                raise
            log.warning("delivery %s: batch retried after a lock conflict", ctx.delivery_id)
            for b in bibs:
                if b.template is not None:
                    b.outcome, b.record_id, b.candidates = "rejected", None, []
            for h, errors, parent in saved:
                h.errors, h.parent_record, h.outcome, h.holding_id = list(errors), parent, "rejected", None
