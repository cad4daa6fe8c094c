"""The delivery report: what happened to every record of a delivery.

Built from `delivery_records` (one row per record in the file). Holdings are nested under the
bibliographic record they belong to; a holding that belongs to none is listed on its own.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway.errors import NotFound

SUMMARY_SQL = """
SELECT count(*) FILTER (WHERE kind = 'bib')                               AS records,
       count(*) FILTER (WHERE kind = 'bib' AND outcome = 'created')       AS created,
       count(*) FILTER (WHERE kind = 'bib' AND outcome = 'matched')       AS matched,
       count(*) FILTER (WHERE kind = 'bib' AND outcome = 'updated')       AS updated,
       count(*) FILTER (WHERE kind = 'bib' AND outcome IN ('matched', 'updated')
                          AND cardinality(candidates) > 1)                AS ambiguous,
       count(*) FILTER (WHERE kind = 'bib' AND outcome = 'rejected')      AS rejected,
       count(*) FILTER (WHERE kind = 'holding' AND outcome = 'added')     AS holdings_added,
       count(*) FILTER (WHERE kind = 'holding' AND outcome = 'updated')   AS holdings_updated,
       count(*) FILTER (WHERE kind = 'holding' AND outcome = 'deleted')   AS holdings_deleted,
       count(*) FILTER (WHERE kind = 'holding' AND outcome = 'rejected')  AS holdings_rejected
  FROM delivery_records WHERE delivery_id = $1
"""


async def summary(conn: asyncpg.Connection, delivery_id: int) -> dict[str, int]:
    row = await conn.fetchrow(SUMMARY_SQL, delivery_id)
    return {k: int(v) for k, v in row.items()}


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _entry(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "position": r["position"],
        "type": "bibliographic",
        "supplier_id": r["supplier_id"],
        "identifiers": list(r["identifiers"]),
        "outcome": r["outcome"],
        "record_id": str(r["record_id"]) if r["record_id"] is not None else None,
        "candidates": [str(c) for c in r["candidates"]],
        "title": r["title"],
        "holdings": [],
        "errors": r["errors"],
        "warnings": r["warnings"],
    }


def _holding(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "position": r["position"],
        "sigel": r["sigel"],
        "outcome": r["outcome"],
        "holding_id": str(r["holding_id"]) if r["holding_id"] is not None else None,
        "errors": r["errors"],
        "warnings": r["warnings"],
    }


async def delivery_header(conn: asyncpg.Connection, delivery_id: int, supplier_id: int | None) -> dict[str, Any]:
    row = await conn.fetchrow(
        """SELECT d.id, d.status, s.code AS supplier, d.received_at, d.started_at, d.finished_at,
                  d.record_count, d.size, d.format, d.summary, d.error, d.source
             FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
            WHERE d.id = $1 AND ($2::bigint IS NULL OR d.supplier_id = $2)""",
        delivery_id, supplier_id,
    )
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "supplier": row["supplier"],
        "received_at": _iso(row["received_at"]),
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
        "format": row["format"],
        "size": row["size"],
        "record_count": row["record_count"],
        "source": row["source"],
        "error": row["error"],
        "summary": row["summary"],
    }


async def build(conn: asyncpg.Connection, delivery_id: int, supplier_id: int | None) -> dict[str, Any]:
    """The full report; `supplier_id` restricts it to that supplier's deliveries (None: admin)."""
    report = await delivery_header(conn, delivery_id, supplier_id)
    if report["summary"] is None:
        report["summary"] = await summary(conn, delivery_id)
    entries: dict[int, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    rows = await conn.fetch(
        """SELECT position, kind, parent_position, supplier_id, identifiers, outcome, record_id,
                  holding_id, sigel, candidates, title, errors, warnings
             FROM delivery_records WHERE delivery_id = $1 ORDER BY position""",
        delivery_id,
    )
    for r in rows:
        if r["kind"] == "bib":
            entries[r["position"]] = _entry(r)
    for r in rows:
        if r["kind"] == "bib":
            records.append(entries[r["position"]])
            continue
        parent = entries.get(r["parent_position"]) if r["parent_position"] is not None else None
        if parent is None:
            records.append(
                {
                    "position": r["position"],
                    "type": "holdings",
                    "supplier_id": r["supplier_id"],
                    "outcome": r["outcome"],
                    "record_id": str(r["record_id"]) if r["record_id"] is not None else None,
                    "holdings": [_holding(r)],
                    "errors": r["errors"],
                    "warnings": [],
                }
            )
        else:
            parent["holdings"].append(_holding(r))
    report["records"] = records
    return report


async def listing(
    conn: asyncpg.Connection, supplier_id: int | None, limit: int, before: int | None
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT d.id, d.status, s.code AS supplier, d.received_at, d.finished_at, d.record_count, d.summary
             FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
            WHERE ($1::bigint IS NULL OR d.supplier_id = $1) AND ($2::bigint IS NULL OR d.id < $2)
            ORDER BY d.id DESC LIMIT $3""",
        supplier_id, before, limit,
    )
    return [
        {
            "id": str(r["id"]),
            "status": r["status"],
            "supplier": r["supplier"],
            "received_at": _iso(r["received_at"]),
            "finished_at": _iso(r["finished_at"]),
            "record_count": r["record_count"],
            "summary": r["summary"],
            "href": f"/deliveries/{r['id']}",
        }
        for r in rows
    ]
