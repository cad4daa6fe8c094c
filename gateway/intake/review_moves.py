"""What the review actions do to records, holdings and identifiers (gateway.intake.review).

Runs inside the action's transaction, with the review item locked. Datestamps, as harvesters
must see them (gateway.oai):

* a holding that moves away from a record becomes a tombstone (deleted, new datestamp): the
  library's `hold:SIGEL` set reports it deleted and its `bib:SIGEL` set reports the record it
  left as deleted; the library's holding on the receiving record is created, revived or (keep,
  separate) rewritten with the moved holding's content, 001 and 004;
* the receiving record (kept candidate, survivor, new record) gets a new datestamp, in the
  plain set, in `supplier:CODE` and in every `bib:SIGEL` it is in;
* a record merged away is deleted with a new datestamp, so it is an OAI-PMH deletion in the
  plain set, in `supplier:CODE` (its suppliers stay listed) and in every `bib:SIGEL` that had it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.errors import Conflict
from gateway.intake.prepare import PreparedBib, fill
from gateway.store.queries import load

Q = load("review")

#: Identifiers that name the supplier's own record (its 001), not the book: they follow the
#: incoming record when it moves (a later 004 of that supplier finds where it went).
_OWN_KINDS = frozenset({"supplier"})


def _control(tag: str) -> re.Pattern[str]:
    return re.compile(rf'<controlfield tag="{tag}">[^<]*</controlfield>')


_FIELDS = {tag: _control(tag) for tag in ("001", "004", "005")}


def _renumber(marcxml: str, holding_id: int, bib_id: int, stamp: str) -> str:
    """A holdings record's stored text with new 001, 004 and 005 (digits: nothing to escape)."""
    for tag, value in (("001", holding_id), ("004", bib_id), ("005", stamp)):
        marcxml = _FIELDS[tag].sub(f'<controlfield tag="{tag}">{value}</controlfield>', marcxml, count=1)
    return marcxml


def _pairs(keys: list[str]) -> tuple[list[str], list[str]]:
    kinds, values = [], []
    for key in keys:
        kind, _, value = key.partition(":")
        kinds.append(kind)
        values.append(value)
    return kinds, values


class Moves:
    def __init__(self, conn: asyncpg.Connection, item: asyncpg.Record, actor: str) -> None:
        self.conn = conn
        self.item = item
        self.actor = actor
        self.stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S.0")
        self.origin = {"delivery_id": str(item["delivery_id"]), "position": item["position"],
                       "supplier": item["supplier"]}

    # --- locks ------------------------------------------------------------------------------
    async def _lock(self, records: list[int], extra_keys: list[str] | None = None) -> dict[int, asyncpg.Record]:
        """The loader's advisory locks (identifier keys, then bib:ID keys, each sorted), then the
        records' rows; every record must be live."""
        conn = self.conn
        idents = {r["key"] for r in await conn.fetch(Q["identifier_keys"], records)} | set(extra_keys or ())
        keys = sorted(idents) + sorted(f"bib:{r}" for r in records)
        await conn.fetchval(Q["lock_keys"], keys)
        rows = {r["id"]: r for r in await conn.fetch(Q["lock_records"], records)}
        for rid in records:
            row = rows.get(rid)
            if row is None or row["deleted"]:
                merged = f" (merged into {row['merged_into']})" if row is not None and row["merged_into"] else ""
                raise Conflict(f"record {rid} is deleted{merged}", field="record_id")
        return rows

    async def _event(self, bib_id: int, action: str, detail: dict[str, Any]) -> None:
        await self.conn.execute(Q["event"], bib_id, self.actor, action, self.item["id"], detail)

    # --- holdings ---------------------------------------------------------------------------
    async def _move_holding(self, h: asyncpg.Record, to_bib: int, overwrite: bool) -> dict[str, Any]:
        """Move a live holding to `to_bib`; the one left behind becomes a tombstone."""
        conn = self.conn
        target = await conn.fetchrow(Q["target_holding"], to_bib, h["sigel"])
        kept = False
        if target is None:
            hid = await conn.fetchval(Q["next_holding_id"])
            await conn.execute(Q["insert_holding"], hid, to_bib, h["sigel"],
                               _renumber(h["marcxml"], hid, to_bib, self.stamp), False, h["supplier_id"],
                               h["xml_unsafe"])
        elif target["deleted"] or overwrite:
            hid = target["id"]
            await conn.execute(Q["overwrite_holding"], hid, _renumber(h["marcxml"], hid, to_bib, self.stamp),
                               False, h["supplier_id"])
        else:  # the receiving record's own holding for that library stays as it is
            hid, kept = target["id"], True
        await conn.execute(Q["tombstone_holding"], h["id"])
        return {"sigel": h["sigel"], "from_holding": str(h["id"]), "to_holding": str(hid),
                "kept_existing": kept}

    async def _incoming_holdings(self, to_bib: int) -> list[dict[str, Any]]:
        """The live holdings the incoming record brought, moved from the record it was attached to."""
        item = self.item
        rows = await self.conn.fetch(Q["incoming_holdings"], item["delivery_id"], item["position"], item["bib_id"])
        return [await self._move_holding(h, to_bib, overwrite=True) for h in rows if not h["deleted"]]

    async def _own_identifiers(self, to_bib: int) -> None:
        """The incoming record's identifiers go to `to_bib`; those naming the supplier's own record
        leave the record it was attached to."""
        kinds, values = _pairs(list(self.item["identifiers"]))
        await self.conn.execute(Q["add_identifiers"], kinds, values, to_bib)
        own = [(k, v) for k, v in zip(kinds, values, strict=True) if k in _OWN_KINDS]
        if own:
            await self.conn.execute(Q["remove_identifiers"], [k for k, _ in own], [v for _, v in own],
                                    self.item["bib_id"])

    # --- the actions ------------------------------------------------------------------------
    async def keep(self, target: int) -> dict[str, Any]:
        attached = self.item["bib_id"]
        await self._lock(sorted({attached, target}), list(self.item["identifiers"]))
        moved: list[dict[str, Any]] = []
        if target != attached:
            moved = await self._incoming_holdings(target)
            await self._own_identifiers(target)
            await self.conn.execute(Q["add_supplier"], target, self.item["supplier_id"])
            await self.conn.execute(Q["touch_record"], target)
            await self._event(attached, "holdings_moved_away", {**self.origin, "to": str(target), "holdings": moved})
        await self._event(target, "keep", {**self.origin, "from": str(attached), "holdings": moved})
        return {"action": "keep", "record_id": str(target), "from": str(attached), "holdings": moved}

    async def merge(self, survivor: int, others: list[int], override: bool) -> dict[str, Any]:
        conn = self.conn
        rows = await self._lock(sorted({survivor, *others}))
        protected = [o for o in others if rows[o]["protected"]]
        if protected and not override:
            raise Conflict(f"record(s) {', '.join(map(str, protected))} are protected by a cataloguer; merging "
                           "them away needs override_protected (CLI: --override-protected)",
                           protected=[str(p) for p in protected])
        moved: dict[str, list[dict[str, Any]]] = {}
        closed: list[int] = []
        for other in others:
            holdings = []
            for h in await conn.fetch(Q["record_holdings"], other):
                if h["deleted"]:
                    await conn.execute(Q["touch_holding"], h["id"])  # still a deletion in bib:SIGEL
                else:
                    holdings.append(await self._move_holding(h, survivor, overwrite=False))
            moved[str(other)] = holdings
            await conn.execute(Q["move_all_identifiers"], other, survivor)
            await conn.execute(Q["copy_suppliers"], other, survivor)
            await conn.execute(Q["merge_away"], other, survivor)
            await conn.execute(Q["redirect_merged"], other, survivor)
            for r in await conn.fetch(Q["repoint_open_items"], other, survivor, self.item["id"]):
                if r["left"] < 2:  # the question is gone: one candidate left
                    await conn.execute(Q["close_item"], r["id"], self.actor,
                                       {"action": "merge", "record_id": str(survivor), "by_item": self.item["id"]})
                    closed.append(r["id"])
            await self._event(other, "merged_into", {"survivor": str(survivor), "holdings": holdings,
                                                     "was_protected": bool(rows[other]["protected"])})
        await conn.execute(Q["touch_record"], survivor)
        await self._event(survivor, "merge", {"merged": [str(o) for o in others], "holdings": moved,
                                              "overrode_protection": [str(p) for p in protected]})
        return {"action": "merge", "record_id": str(survivor), "merged": [str(o) for o in others],
                "holdings": moved, "overrode_protection": [str(p) for p in protected], "closed_items": closed}

    async def separate(self, prepared: PreparedBib) -> dict[str, Any]:
        conn = self.conn
        attached = self.item["bib_id"]
        await self._lock([attached], list(prepared.keys))
        assert prepared.template is not None
        new_id = await conn.fetchval(Q["next_bib_id"])
        await conn.execute(Q["insert_record"], new_id, prepared.match_class, prepared.level,
                           fill(prepared.template, {"001": str(new_id), "005": self.stamp}), prepared.described,
                           self.item["supplier_id"], prepared.unsafe)
        await conn.execute(Q["add_supplier"], new_id, self.item["supplier_id"])
        await self._own_identifiers(new_id)
        moved = await self._incoming_holdings(new_id)
        await self._event(attached, "holdings_moved_away", {**self.origin, "to": str(new_id), "holdings": moved})
        await self._event(new_id, "separate", {**self.origin, "from": str(attached), "holdings": moved})
        return {"action": "separate", "record_id": str(new_id), "from": str(attached), "holdings": moved}
