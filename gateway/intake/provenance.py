"""A bibliographic record as a cataloguer looks it up: what it is, where it is held, what
identifies it, and its history (provenance).

Provenance is every delivery that created, matched or updated the record - or a record later
merged into it - (when, which supplier, which delivery and position, the outcome) and every
review action on it (who, when, what moved), oldest first. The console and the admin API
(`GET /admin/records/{id}`) read it through `record_detail` / `record_provenance`.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway.errors import NotFound
from gateway.store import db
from gateway.store.queries import load

Q = load("review")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def record_provenance(conn: asyncpg.Connection, record_id: int) -> list[dict[str, Any]]:
    """The record's history, oldest first: entries of kind "delivery" (outcome created | matched |
    updated, supplier, delivery_id, position, title, candidates; `record_id` is the record the
    delivery wrote to when that was one later merged into this one) and of kind "review" (action
    keep | merge | merged_into | separate | holdings_moved_away, actor, review_item_id, detail)."""
    entries: list[tuple[Any, int, int, dict[str, Any]]] = []
    for r in await conn.fetch(Q["provenance_deliveries"], record_id):
        entries.append((r["at"], 0, r["delivery_id"] * 1_000_000 + r["position"], {
            "kind": "delivery", "at": _iso(r["at"]), "outcome": r["outcome"], "supplier": r["supplier"],
            "delivery_id": str(r["delivery_id"]), "position": r["position"], "record_id": str(r["record_id"]),
            "title": r["title"], "ambiguous": len(r["candidates"]) > 1,
            "candidates": [str(c) for c in r["candidates"]],
        }))
    for e in await conn.fetch(Q["provenance_events"], record_id):
        entries.append((e["at"], 1, e["id"], {
            "kind": "review", "at": _iso(e["at"]), "action": e["action"], "actor": e["actor"],
            "review_item_id": e["review_item_id"], "record_id": str(e["bib_id"]), "detail": e["detail"],
        }))
    entries.sort(key=lambda t: (t[0], t[1], t[2]))
    return [e for *_, e in entries]


async def record_detail(conn: asyncpg.Connection, record_id: int) -> dict[str, Any]:
    """The record (deleted ones too: a record merged away names its survivor), its holdings per
    library (tombstones marked `deleted`), identifiers, suppliers and provenance."""
    if not db.is_row_id(record_id):
        raise NotFound(f"no bibliographic record {record_id}")
    b = await conn.fetchrow(Q["record"], record_id)
    if b is None:
        raise NotFound(f"no bibliographic record {record_id}")
    merged_from = await conn.fetch(Q["merged_from"], record_id)
    return {
        "record_id": str(b["id"]),
        "deleted": b["deleted"],
        "merged_into": str(b["merged_into"]) if b["merged_into"] else None,
        "merged_from": [str(r["id"]) for r in merged_from],
        "protected": b["protected"],
        "encoding_level": b["encoding_level"],
        "match_class": b["match_class"],
        "created_by": b["supplier"],
        "created_at": _iso(b["created_at"]),
        "modified_at": _iso(b["modified_at"]),
        "summary": b["summary"],
        "marcxml": b["marcxml"],
        "identifiers": [f"{r['kind']}:{r['value']}" for r in await conn.fetch(Q["record_identifiers"], record_id)],
        "suppliers": [{"code": r["code"], "first_at": _iso(r["first_at"]), "last_at": _iso(r["last_at"])}
                      for r in await conn.fetch(Q["record_suppliers"], record_id)],
        "holdings": [{"holding_id": str(r["id"]), "sigel": r["sigel"], "library": r["library"],
                      "deleted": r["deleted"], "supplier": r["supplier"], "created_at": _iso(r["created_at"]),
                      "modified_at": _iso(r["modified_at"])}
                     for r in await conn.fetch(Q["holdings_of"], record_id)],
        "provenance": await record_provenance(conn, record_id),
    }
