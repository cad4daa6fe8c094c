"""Loading a received delivery: read, validate, match, write — in batches, resumably.

The stored payload is read back chunk by chunk and its records prepared (gateway.intake.prepare, in a
second process for large deliveries: gateway.intake.parse_process), so memory does not grow with the
delivery. Records are grouped into batches of a few hundred (gateway.intake.batches); each batch is one
transaction that takes advisory locks on the batch's normalised identifiers (so two processes
loading the same new book make one record), looks every candidate up in one query, decides in
Python (gateway.intake.matching) and writes everything — records, identifiers, holdings, review items
and the per-record results — with a few bulk statements.

The seams: `pipeline` prepares the next batch while `write_batch` writes the one before (one
transaction: `write_bibs`, `write_holdings`, the results); `batches` keeps the batching state
(what is ready, which records are known parents); this module reads the payload and runs a
delivery from its first batch to its summary. Because the results are written with
the records, they are also the progress: a delivery resumed after a crash skips the positions
it already has, so nothing is lost and nothing is loaded twice.

Holdings belong to the bibliographic record their 004 names when it is in the same delivery
(MARC 21), else to the bibliographic record before them (Libris: suppliers send no 004); a 004
that names nothing in the delivery is looked up among the records this supplier delivered
before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg

from gateway.intake import finished, report
from gateway.intake.batches import Batches, HoldingItem, problem
from gateway.intake.context import Context
from gateway.intake.parse_process import ParseProcess, prepared_stream
from gateway.intake.pipeline import Pipeline
from gateway.intake.prepare import Spec
from gateway.intake.write_batch import write_batch
from gateway.ops import metrics
from gateway.search import indexer as search_indexer
from gateway.store.queries import load

log = logging.getLogger(__name__)
Q = load("loader")


class HandedBack(Exception):
    """The process is stopping: the delivery was left after its last committed batch, for the next
    worker (here or elsewhere) to resume."""


# --- reading ----------------------------------------------------------------------------------
async def chunks(pool: asyncpg.Pool, delivery_id: int) -> AsyncIterator[bytes]:
    seq = 0
    while True:
        async with pool.acquire() as conn:
            data = await conn.fetchval(Q["chunk"], delivery_id, seq)
        if data is None:
            return
        yield data
        seq += 1


# --- the whole delivery ---------------------------------------------------------------------
async def load_delivery(
    pool: asyncpg.Pool, delivery_id: int, *, org_code: str, batch_size: int = 500,
    on_finish: Callable[[asyncpg.Connection, int], Awaitable[object]] | None = None,
    parse_process: ParseProcess | None = None, stop: asyncio.Event | None = None,
    indexer: search_indexer.SearchIndexer | None = None,
) -> dict[str, int]:
    """Process one claimed delivery to the end; returns its summary.

    With `parse_process`, records are prepared in that second process (gateway.intake.parse_process);
    the outcome is the same either way. When `stop` is set (the process is shutting down), the
    batch being written is committed and HandedBack is raised: the delivery resumes after it.
    Each batch queues its records for the search index (gateway.search.indexer); `indexer`, the
    worker process's, is poked after each batch commits. Without one, the queue is drained here
    before returning, so what was loaded is searchable when this returns.
    """
    started = time.perf_counter()
    async with pool.acquire() as conn:
        meta = await conn.fetchrow(Q["delivery_meta"], delivery_id)
        libs = {r["sigel"]: (r["registered"], r["customer"]) for r in await conn.fetch(Q["libraries"],
                                                                                       meta["supplier_id"])}
        done = {r["position"]: r for r in await conn.fetch(Q["done_records"], delivery_id)}
    ctx = Context(delivery_id, meta["supplier_id"], meta["supplier_code"], org_code, libs,
                  indexer.poke if indexer is not None else None)
    if done:
        log.info("delivery %s: resuming after %d records already loaded", delivery_id, len(done))
    state = Batches(done, batch_size)
    spec = Spec(meta["format"], meta["charset"], meta["supplier_code"], org_code, frozenset(done))
    pipeline = Pipeline(pool, ctx, state)
    try:
        stream = prepared_stream(chunks(pool, delivery_id), spec, parse_process, meta["record_count"])
        async with contextlib.aclosing(stream):
            async for items in stream:
                await pipeline.add(items)
                await pipeline.flush(final=False)
                if stop is not None and stop.is_set():
                    await pipeline.drain()
                    raise HandedBack(delivery_id)
        await pipeline.flush(final=True)
        await pipeline.drain()
    finally:
        await pipeline.abandon()
    leftovers = state.finish_forward()
    if leftovers:
        await _resolve_earlier(pool, ctx, leftovers)
        await write_batch(pool, ctx, [], leftovers, state.by_position)

    async with pool.acquire() as conn, conn.transaction():
        totals = await report.summary(conn, delivery_id)
        await conn.execute(Q["finish"], delivery_id, totals)
        await finished.notify(conn, delivery_id)
        if on_finish is not None:
            await on_finish(conn, delivery_id)
    metrics.delivery_loaded(ctx.supplier_code, totals, time.perf_counter() - started)
    if indexer is None:
        await search_indexer.drain(pool, wait=True)
    return totals


async def _resolve_earlier(pool: asyncpg.Pool, ctx: Context, items: list[HoldingItem]) -> None:
    """004s naming no record of this delivery: a record this supplier delivered before?"""
    async with pool.acquire() as conn:
        for item in items:
            if item.parent_position is not None or item.template is None:
                continue
            ref = item.ref or ""
            found = await conn.fetchval(Q["lookup_supplier_record"], f"{ctx.supplier_code}:{ref}")
            item.warnings = [w for w in item.warnings if w["code"] != "HOLDING_FORWARD_REFERENCE"]
            if found is None:
                item.errors.append(problem("HOLDING_UNKNOWN_PARENT",
                                           f"004 {ref} names no record in this delivery nor one this "
                                           "supplier delivered before"))
            else:
                item.parent_record = int(found)
