"""Writing a batch's holdings: find each one's record and library, then add, update or delete.

A holding belongs to the bibliographic record its 004 names in the delivery, or to the one
before it (gateway.intake.batches decides which); only registered libraries that are the
supplier's customers receive holdings; one holding per record and library, and a Leader/05 `d`
turns it into a tombstone for harvesters.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway.intake import holding_problems as hp
from gateway.intake.batches import BibItem, HoldingItem, ParentInfo, problem
from gateway.intake.context import Context
from gateway.intake.prepare import fill
from gateway.intake.write_bibs import KEY_SEPARATOR
from gateway.store.queries import load

Q = load("loader")
_HOLDING_COLUMNS = ("id", "bib_id", "sigel", "marcxml", "deleted", "supplier_id", "xml_unsafe")


def _holding_record(item: HoldingItem, holding_id: int, bib_id: int, stamp: str) -> str:
    assert item.template is not None
    return fill(item.template, {"001": str(holding_id), "004": str(bib_id), "005": stamp})


def _check_library(item: HoldingItem, ctx: Context) -> None:
    if item.sigel is None:
        return
    lib = ctx.libraries.get(item.sigel)
    if lib is None:
        item.errors.append(problem("HOLDING_UNKNOWN_LIBRARY", hp.unknown_library(item.sigel)))
    elif not lib[0]:
        item.errors.append(problem("HOLDING_LIBRARY_UNREGISTERED", hp.library_unregistered(item.sigel)))
    elif not lib[1]:
        item.errors.append(problem("HOLDING_NOT_CUSTOMER", hp.not_customer(item.sigel, ctx.supplier_code)))


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


async def write_holdings(conn: asyncpg.Connection, ctx: Context, holdings: list[HoldingItem],
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
                item.errors.append(problem("HOLDING_UNKNOWN_LIBRARY",
                                           hp.unknown_library(str(item.sigel), while_loading=True)))
        usable = [(i, b) for i, b in usable if i.sigel in present]
        if not usable:
            return
    fresh: list[int] = list(await conn.fetchval(Q["lock_keys"],
                                                KEY_SEPARATOR.join(sorted({f"bib:{b}" for _, b in usable})),
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
