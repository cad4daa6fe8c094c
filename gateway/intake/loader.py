"""Loading a received delivery: read, validate, match, write — in batches, resumably.

The stored payload is read back chunk by chunk and its records prepared (gateway.intake.prepare, in a
second process for large deliveries: gateway.intake.parse_process), so memory does not grow with the
delivery. Records are grouped into batches of a few hundred (gateway.intake.batches); each batch is one
transaction that takes advisory locks on the batch's normalised identifiers (so two processes
loading the same new book make one record), looks every candidate up in one query, decides in
Python (gateway.intake.matching) and writes everything — records, identifiers, holdings, review items
and the per-record results — with a few bulk statements. Because the results are written with
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
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.intake import finished, matching, report
from gateway.intake.batches import Batches, BibItem, HoldingItem, ParentInfo, problem
from gateway.intake.matching import Candidate
from gateway.intake.parse_process import ParseProcess, prepared_stream
from gateway.intake.prepare import Prepared, Spec, fill
from gateway.store.queries import load

log = logging.getLogger(__name__)
Q = load("loader")

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)

# Bulk inserts of rows that cannot exist yet (fresh ids, positions not yet done) use binary COPY,
# which must name its columns (0002 adds generated columns). jsonb values go through the pool's
# binary json codec (gateway.store.db).
_BIB_COLUMNS = ("id", "match_class", "encoding_level", "marcxml", "summary", "supplier_id", "xml_unsafe")
_IDENT_COLUMNS = ("kind", "value", "bib_id")
_HOLDING_COLUMNS = ("id", "bib_id", "sigel", "marcxml", "deleted", "supplier_id", "xml_unsafe")
_RESULT_COLUMNS = ("delivery_id", "position", "kind", "parent_position", "supplier_id", "identifiers", "outcome",
                   "record_id", "holding_id", "sigel", "candidates", "title", "errors", "warnings")


@dataclass(slots=True)
class Context:
    """What writing a delivery's batches needs to know besides the records."""

    delivery_id: int
    supplier_id: int
    supplier_code: str
    org_code: str
    #: sigel -> (registered, customer of this supplier)
    libraries: dict[str, tuple[bool, bool]]


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


# --- writing ----------------------------------------------------------------------------------
def _stamp(now: datetime) -> str:
    """The 005 of records written at `now`."""
    return now.strftime("%Y%m%d%H%M%S.0")


def _holding_record(item: HoldingItem, holding_id: int, bib_id: int, stamp: str) -> str:
    assert item.template is not None
    return fill(item.template, {"001": str(holding_id), "004": str(bib_id), "005": stamp})


class _CandidateIndex:
    """A batch's candidates by identifier (kind, value), as gateway.intake.matching reads them (`lists`),
    and the identifiers each record is listed under: a record replaced within the batch is
    updated where it appears, not by a walk over the whole batch's lists."""

    def __init__(self) -> None:
        self.lists: dict[tuple[str, str], list[Candidate]] = {}
        self._where: dict[int, list[tuple[str, str]]] = {}

    def append(self, pair: tuple[str, str], candidate: Candidate) -> None:
        self.lists.setdefault(pair, []).append(candidate)
        self._where.setdefault(candidate.id, []).append(pair)

    def add(self, pair: tuple[str, str], candidate: Candidate) -> None:
        """Append unless that record is already listed under this identifier."""
        if all(c.id != candidate.id for c in self.lists.get(pair, ())):
            self.append(pair, candidate)

    def replace(self, candidate: Candidate) -> None:
        """The record's entries, wherever it is listed, become `candidate`."""
        for pair in self._where.get(candidate.id, ()):
            entries = self.lists[pair]
            for i, c in enumerate(entries):
                if c.id == candidate.id:
                    entries[i] = candidate


async def _write_batch(conn: asyncpg.Connection, ctx: Context, bibs: list[BibItem],
                       holdings: list[HoldingItem], parents: dict[int, ParentInfo]) -> None:
    stamp = _stamp(datetime.now(UTC))
    live = [b for b in bibs if b.template is not None]
    keys = sorted({k for b in live for k in b.prepared.keys})
    new_ids: list[int] = list(await conn.fetchval(Q["lock_keys"], keys, len(live), "bib_id_seq", column=1))
    candidates = _CandidateIndex()
    index = candidates.lists
    if keys:
        kinds, values = zip(*[k.split(":", 1) for k in keys], strict=True)
        for r in await conn.fetch(Q["candidates"], list(kinds), list(values)):
            candidates.append((r["kind"], r["value"]),
                              Candidate(r["id"], r["match_class"], r["encoding_level"], r["protected"],
                                        r["created_at"]))
    new_ids.reverse()  # pop() hands them out in ascending order

    ins: list[tuple[int, str, str, str, dict[str, Any], int, bool]] = []
    upd: dict[int, tuple[int, str, str, str, str, bool]] = {}
    idents: list[tuple[str, str, int | None]] = []
    new_idents: dict[tuple[str, str, int | None], None] = {}  # ordered and without repeats
    reviews: list[tuple[int, int, str, str, str]] = []
    # the same open question once (0008): the statement's NOT EXISTS does not see its own rows, so
    # a question met twice in one batch is queued here once, as if a batch boundary fell between
    asked: set[tuple[int, frozenset[int]]] = set()
    by_position: dict[int, BibItem] = {}
    for item in live:
        prepared = item.prepared
        template = prepared.template
        assert template is not None
        by_position[prepared.position] = item
        level = prepared.level
        _kind, found = matching.candidates(prepared.pairs, prepared.match_class, index)
        item.candidates = [c.id for c in found]
        if not found:
            rid = new_ids.pop()
            ins.append((rid, prepared.match_class, level, fill(template, {"001": str(rid), "005": stamp}),
                        prepared.described, ctx.supplier_id, prepared.unsafe))
            item.outcome, item.record_id = "created", rid
            cand = Candidate(rid, prepared.match_class, level, False, _FAR_FUTURE)
            for pair in prepared.pairs:
                candidates.append(pair, cand)
        else:
            target = found[0]
            item.record_id = target.id
            question = (target.id, frozenset(item.candidates))
            if len(found) > 1 and question not in asked:
                asked.add(question)
                reviews.append((item.position, target.id, ",".join(map(str, item.candidates)),
                                "\x1f".join(prepared.keys),
                                f"{len(found)} records share an identifier; attached to the oldest"))
            if matching.may_replace(level, target):
                upd[target.id] = (target.id, prepared.match_class, level,
                                  fill(template, {"001": str(target.id), "005": stamp}),
                                  json.dumps(prepared.described), prepared.unsafe)
                item.outcome = "updated"
                replaced = Candidate(target.id, target.match_class, level, False, target.created_at)
                candidates.replace(replaced)
                for pair in prepared.pairs:
                    candidates.add(pair, replaced)
            else:
                item.outcome = "matched"
                for pair in prepared.pairs:
                    candidates.add(pair, target)
        if item.outcome == "created":  # a new id: nothing can be there yet, COPY them
            new_idents.update(dict.fromkeys((k, v, item.record_id) for k, v in prepared.pairs))
        else:
            idents.extend((k, v, item.record_id) for k, v in prepared.pairs)

    if ins:
        await conn.copy_records_to_table("bib_records", records=ins, columns=_BIB_COLUMNS)
    if upd:
        cols = list(zip(*upd.values(), strict=True))
        await conn.execute(Q["replace_bibs"], *[list(c) for c in cols])
        await conn.execute(Q["touch_holdings_of"], list(upd))
    if new_idents:
        await conn.copy_records_to_table("bib_identifiers", records=list(new_idents), columns=_IDENT_COLUMNS)
    if idents:
        k, v, b = zip(*idents, strict=True)
        await conn.execute(Q["insert_identifiers"], list(k), list(v), list(b))
    created = [(b.record_id, ctx.supplier_id) for b in live if b.outcome == "created"]
    if created:
        await conn.copy_records_to_table("bib_suppliers", records=created, columns=("bib_id", "supplier_id"))
    touched = [b.record_id for b in live if b.record_id is not None and b.outcome != "created"]
    if touched:
        await conn.execute(Q["upsert_bib_suppliers"], touched, ctx.supplier_id)
    if reviews:
        cols = list(zip(*reviews, strict=True))
        await conn.execute(Q["insert_review_items"], ctx.delivery_id, *[list(c) for c in cols])

    await _write_holdings(conn, ctx, holdings, by_position, stamp, parents)
    await _write_results(conn, ctx, bibs, holdings)


def _check_library(item: HoldingItem, ctx: Context) -> None:
    if item.sigel is None:
        return
    lib = ctx.libraries.get(item.sigel)
    if lib is None:
        item.errors.append(problem("HOLDING_UNKNOWN_LIBRARY", f"{item.sigel} is not a library known here"))
    elif not lib[0]:
        item.errors.append(problem("HOLDING_LIBRARY_UNREGISTERED",
                                   f"{item.sigel} is not a registered library and cannot receive holdings"))
    elif not lib[1]:
        item.errors.append(problem("HOLDING_NOT_CUSTOMER",
                                   f"{item.sigel} is not a customer of supplier {ctx.supplier_code}"))


def _resolve_parent(item: HoldingItem, batch_bibs: dict[int, BibItem], parents: dict[int, ParentInfo]) -> None:
    """A parent in an earlier batch that was still being written when this holding was read.

    Does now what `Batches._attach` does for a parent whose batch is already written (the
    batches are written one after the other, so that batch is committed by now).
    """
    target = item.parent_position
    if item.parent_record is not None or target is None or target in batch_bibs:
        return
    info = parents.get(target)
    if info is not None and info.written:
        item.parent_record = info.record_id
        if info.record_id is None:
            item.errors.append(problem("HOLDING_PARENT_REJECTED",
                                       f"the bibliographic record at position {target} was rejected"))


async def _write_holdings(conn: asyncpg.Connection, ctx: Context, holdings: list[HoldingItem],
                          batch_bibs: dict[int, BibItem], stamp: str,
                          parents: dict[int, ParentInfo]) -> None:
    usable: list[tuple[HoldingItem, int]] = []
    for item in holdings:
        _resolve_parent(item, batch_bibs, parents)
        bib_id = item.parent_record
        if bib_id is None and item.parent_position is not None and item.parent_position in batch_bibs:
            bib_id = batch_bibs[item.parent_position].record_id
        if bib_id is None and item.parent_position is not None and not item.errors:
            item.errors.append(problem("HOLDING_PARENT_REJECTED",
                                       f"the bibliographic record at position {item.parent_position} "
                                       "was rejected"))
        item.parent_record = bib_id
        _check_library(item, ctx)
        if item.errors or item.template is None or bib_id is None:
            item.outcome = "rejected"
            continue
        usable.append((item, bib_id))
    if not usable:
        return
    # The registry was read when the delivery started; hold its libraries until this batch commits
    # (a removal or sigel rename waits for it, then sees these holdings) and drop holdings whose
    # library has gone meanwhile. One statement per batch, not a foreign-key check per row.
    sigels = sorted({i.sigel for i, _ in usable if i.sigel is not None})
    present = {r["sigel"] for r in await conn.fetch(Q["lock_libraries"], sigels)}
    if len(present) < len(sigels):
        for item, _ in usable:
            if item.sigel not in present:
                item.outcome = "rejected"
                item.errors.append(problem(
                    "HOLDING_UNKNOWN_LIBRARY",
                    f"{item.sigel} is not a library known here (removed or renamed while loading)"))
        usable = [(i, b) for i, b in usable if i.sigel in present]
        if not usable:
            return
    fresh: list[int] = list(await conn.fetchval(Q["lock_keys"], sorted({f"bib:{b}" for _, b in usable}),
                                                len(usable), "holding_id_seq", column=1))
    pairs = sorted({(b, i.sigel) for i, b in usable}, key=lambda p: (p[0], p[1] or ""))
    existing: dict[tuple[int, str], tuple[int, bool]] = {}
    for r in await conn.fetch(Q["existing_holdings"], [p[0] for p in pairs], [p[1] for p in pairs]):
        existing[(r["bib_id"], r["sigel"])] = (r["id"], r["deleted"])
    inserts: dict[tuple[int, str], list[Any]] = {}
    updates: dict[int, list[Any]] = {}
    for item, bib_id in usable:
        assert item.template is not None and item.sigel is not None
        key = (bib_id, item.sigel)
        delete = item.delete
        current = existing.get(key)
        if current is None or current[1]:
            if delete:
                item.outcome = "rejected"
                item.errors.append(problem("HOLDING_DELETE_NOT_FOUND",
                                           f"{item.sigel} has no holding on record {bib_id} to delete"))
                continue
            if current is None:
                hid = fresh.pop()
                inserts[key] = [hid, bib_id, item.sigel, _holding_record(item, hid, bib_id, stamp), False,
                                ctx.supplier_id, item.unsafe]
                existing[key] = (hid, False)
                item.outcome = "added"
            else:  # re-adding a deleted holding revives the tombstone
                hid = current[0]
                updates[hid] = [hid, _holding_record(item, hid, bib_id, stamp), False, item.unsafe]
                existing[key] = (hid, False)
                item.outcome = "added"
        else:
            hid = current[0]
            xml = _holding_record(item, hid, bib_id, stamp)
            if key in inserts:
                inserts[key] = [hid, bib_id, item.sigel, xml, delete, ctx.supplier_id, item.unsafe]
            else:
                updates[hid] = [hid, xml, delete, item.unsafe]
            existing[key] = (hid, delete)
            item.outcome = "deleted" if delete else "updated"
        item.holding_id = hid
    if inserts:
        await conn.copy_records_to_table("holdings", records=[tuple(r) for r in inserts.values()],
                                         columns=_HOLDING_COLUMNS)
    if updates:
        cols = list(zip(*updates.values(), strict=True))
        await conn.execute(Q["update_holdings"], *[list(c) for c in cols], ctx.supplier_id)


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


# --- the whole delivery ---------------------------------------------------------------------
#: Records taken between two turns of the event loop, so the batch being written meanwhile gets
#: its statements sent as soon as the previous one returns (when records are prepared inline,
#: taking one prepares it; gateway.intake.parse_process also hands the payload over in slices for this reason).
_YIELD_EVERY = 8


class _Pipeline:
    """Reading and checking the next batch while the previous one is being written.

    Preparing records (parsing, validation, identifiers, summaries: gateway.intake.prepare) runs here or
    in the second process while PostgreSQL works on the batch before. Batches are still written strictly one
    after the other, each in its own transaction, so matching always sees every earlier batch
    committed; a holding whose parent is in the batch still being written is attached when its
    own batch is written (see `_resolve_parent`).
    """

    def __init__(self, pool: asyncpg.Pool, ctx: Context, state: Batches) -> None:
        self.pool = pool
        self.ctx = ctx
        self.state = state
        self.writing: tuple[asyncio.Task[None], list[BibItem]] | None = None

    async def add(self, items: Iterable[Prepared]) -> None:
        add = self.state.add
        for n, item in enumerate(items, 1):
            add(item)
            if n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)

    async def flush(self, final: bool) -> None:
        state = self.state
        while state.ready() or (final and (state.bibs or state.holdings)):
            bibs, holdings = state.take()
            await self.drain()
            task = asyncio.create_task(write_batch(self.pool, self.ctx, bibs, holdings, state.by_position))
            self.writing = (task, bibs)

    async def drain(self) -> None:
        """Wait for the batch being written; its bibliographic records become known parents."""
        if self.writing is not None:
            task, bibs = self.writing
            self.writing = None
            await task
            self.state.written(bibs)

    async def abandon(self) -> None:
        """After a failure elsewhere: let the batch in flight end (commit or roll back) first."""
        if self.writing is not None:
            task, _ = self.writing
            self.writing = None
            with contextlib.suppress(Exception):
                await task


async def load_delivery(
    pool: asyncpg.Pool, delivery_id: int, *, org_code: str, batch_size: int = 500,
    on_finish: Callable[[asyncpg.Connection, int], Awaitable[object]] | None = None,
    parse_process: ParseProcess | None = None,
) -> dict[str, int]:
    """Process one claimed delivery to the end; returns its summary.

    With `parse_process`, records are prepared in that second process (gateway.intake.parse_process);
    the outcome is the same either way.
    """
    async with pool.acquire() as conn:
        meta = await conn.fetchrow(Q["delivery_meta"], delivery_id)
        libs = {r["sigel"]: (r["registered"], r["customer"]) for r in await conn.fetch(Q["libraries"],
                                                                                       meta["supplier_id"])}
        done = {r["position"]: r for r in await conn.fetch(Q["done_records"], delivery_id)}
    ctx = Context(delivery_id, meta["supplier_id"], meta["supplier_code"], org_code, libs)
    if done:
        log.info("delivery %s: resuming after %d records already loaded", delivery_id, len(done))
    state = Batches(done, batch_size)
    spec = Spec(meta["format"], meta["charset"], meta["supplier_code"], org_code, frozenset(done))
    pipeline = _Pipeline(pool, ctx, state)
    try:
        stream = prepared_stream(chunks(pool, delivery_id), spec, parse_process, meta["record_count"])
        async with contextlib.aclosing(stream):
            async for items in stream:
                await pipeline.add(items)
                await pipeline.flush(final=False)
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
