"""The review queue: ambiguous matches (2+ candidate records) waiting for a cataloguer."""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway.errors import NotFound
from gateway.store import db


async def list_items(conn: asyncpg.Connection, *, include_resolved: bool = False) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT r.id, r.delivery_id, r.position, r.bib_id, r.candidates, r.identifiers, r.reason,
                  r.created_at, r.resolved_at, s.code AS supplier, dr.title
             FROM review_items r
             JOIN deliveries d ON d.id = r.delivery_id
             JOIN suppliers s ON s.id = d.supplier_id
             LEFT JOIN delivery_records dr ON dr.delivery_id = r.delivery_id AND dr.position = r.position
            WHERE $1 OR r.resolved_at IS NULL
            ORDER BY r.id""",
        include_resolved,
    )
    return [
        {
            "id": r["id"],
            "delivery_id": str(r["delivery_id"]),
            "position": r["position"],
            "record_id": str(r["bib_id"]),
            "candidates": [str(c) for c in r["candidates"]],
            "identifiers": list(r["identifiers"]),
            "title": r["title"],
            "supplier": r["supplier"],
            "reason": r["reason"],
            "created_at": r["created_at"].isoformat(),
            "resolved_at": r["resolved_at"].isoformat() if r["resolved_at"] else None,
        }
        for r in rows
    ]


async def resolve(conn: asyncpg.Connection, item_id: int) -> None:
    if not db.is_row_id(item_id):
        raise NotFound(f"no open review item {item_id}")
    status = await conn.execute(
        "UPDATE review_items SET resolved_at = now() WHERE id = $1 AND resolved_at IS NULL", item_id
    )
    if status.endswith(" 0"):
        raise NotFound(f"no open review item {item_id}")
