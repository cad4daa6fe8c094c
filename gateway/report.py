"""The delivery report: what happened to every record of a delivery.

Built from `delivery_records` (one row per record in the file). Holdings are nested under the
bibliographic record they belong to; a holding that belongs to none is listed on its own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg

from gateway.errors import NotFound

_dumps = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode

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


ENTRIES_SQL = """
SELECT position, kind, parent_position, supplier_id, identifiers, outcome, record_id,
       holding_id, sigel, candidates, title, errors, warnings
  FROM delivery_records WHERE delivery_id = $1
 ORDER BY coalesce(parent_position, position), kind = 'holding', position
"""


def _orphan(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "position": r["position"],
        "type": "holdings",
        "supplier_id": r["supplier_id"],
        "outcome": r["outcome"],
        "record_id": str(r["record_id"]) if r["record_id"] is not None else None,
        "holdings": [_holding(r)],
        "errors": r["errors"],
        "warnings": [],
    }


async def entries(conn: asyncpg.Connection, delivery_id: int) -> AsyncIterator[dict[str, Any]]:
    """The report's records in file order, each bibliographic record with its holdings.

    Streams from a server-side cursor, grouped in SQL (a holding sorts right after the record it
    belongs to, also when its 004 pointed forward), so a report of a million records never sits
    in memory. Must run inside a transaction.
    """
    async for batch in _grouped(conn, delivery_id):
        for entry in batch:
            yield entry


async def _grouped(conn: asyncpg.Connection, delivery_id: int, size: int = 1000) -> AsyncIterator[list[dict[str, Any]]]:
    """`entries` a batch at a time (one round trip, and one await, per `size` rows)."""
    current: dict[str, Any] | None = None
    cursor = await conn.cursor(ENTRIES_SQL, delivery_id)
    while rows := await cursor.fetch(size):
        out: list[dict[str, Any]] = []
        for r in rows:
            if r["kind"] == "bib":
                if current is not None:
                    out.append(current)
                current = _entry(r)
            elif current is not None and r["parent_position"] == current["position"]:
                current["holdings"].append(_holding(r))
            else:
                if current is not None:
                    out.append(current)
                    current = None
                out.append(_orphan(r))
        if out:
            yield out
    if current is not None:
        yield [current]


async def header(conn: asyncpg.Connection, delivery_id: int, supplier_id: int | None) -> dict[str, Any]:
    """Everything but the records; `supplier_id` restricts it to that supplier's deliveries."""
    report = await delivery_header(conn, delivery_id, supplier_id)
    if report["summary"] is None:
        report["summary"] = await summary(conn, delivery_id)
    return report


async def build(conn: asyncpg.Connection, delivery_id: int, supplier_id: int | None) -> dict[str, Any]:
    """The full report in memory (for the CLI and small deliveries; HTTP streams it)."""
    report = await header(conn, delivery_id, supplier_id)
    async with conn.transaction():
        report["records"] = [e async for e in entries(conn, delivery_id)]
    return report


async def stream_json(
    conn: asyncpg.Connection, delivery_id: int, supplier_id: int | None, write: Callable[[bytes], Awaitable[None]]
) -> None:
    """Write the full report as one JSON object, record by record (memory does not grow)."""
    report = await header(conn, delivery_id, supplier_id)
    head = json.dumps(report, ensure_ascii=False)
    await write(head[:-1].encode() + b', "records": [')
    first = True
    async with conn.transaction():
        async for batch in _grouped(conn, delivery_id):
            text = _dumps(batch)[1:-1]  # the entries without the list's brackets
            await write(((text if first else "," + text)).encode())
            first = False
    await write(b"]}")


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
