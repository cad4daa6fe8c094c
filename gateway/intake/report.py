"""The delivery report: what happened to every record of a delivery.

Built from `delivery_records` (one row per record in the file). Holdings are nested under the
bibliographic record they belong to; a holding that belongs to none is listed on its own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
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


async def delivery_header(conn: asyncpg.Connection, delivery_id: int, supplier_id: int | None) -> dict[str, Any]:
    row = await conn.fetchrow(
        """SELECT d.id, d.status, s.code AS supplier, d.received_at, d.started_at, d.finished_at,
                  d.record_count, d.size, d.format, d.summary, d.error, d.source,
                  d.file::text AS file
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
        "file": json.loads(row["file"]) if row["file"] else None,
        "error": row["error"],
        "summary": row["summary"],
    }


# The report's entries, built by PostgreSQL as JSON text, one row per record in the order the
# report lists them: a holding sorts right after the bibliographic record it belongs to (also
# when its 004 pointed forward). A bibliographic record's text stops inside its "holdings" list
# (`left(..., -2)` drops the closing "]}"), which `_grouped` fills with the holdings' texts that
# follow it; a holding whose record is not in the delivery is an entry of its own.
ENTRIES_SQL = """
SELECT r.kind = 'bib' AS bib, r.position, r.parent_position AS parent,
       CASE WHEN r.kind = 'bib' THEN left(json_build_object(
                'position', r.position, 'type', 'bibliographic', 'supplier_id', r.supplier_id,
                'identifiers', r.identifiers, 'outcome', r.outcome, 'record_id', r.record_id::text,
                'candidates', r.candidates::text[], 'title', r.title, 'errors', r.errors,
                'warnings', r.warnings, 'holdings', '[]'::json)::text, -2)
            WHEN EXISTS (SELECT FROM delivery_records b WHERE b.delivery_id = $1
                                                          AND b.position = r.parent_position
                                                          AND b.kind = 'bib')
            THEN json_build_object(
                'position', r.position, 'sigel', r.sigel, 'outcome', r.outcome,
                'holding_id', r.holding_id::text, 'errors', r.errors, 'warnings', r.warnings)::text
            ELSE json_build_object(
                'position', r.position, 'type', 'holdings', 'supplier_id', r.supplier_id,
                'outcome', r.outcome, 'record_id', r.record_id::text, 'errors', r.errors,
                'warnings', '[]'::json, 'holdings', json_build_array(json_build_object(
                    'position', r.position, 'sigel', r.sigel, 'outcome', r.outcome,
                    'holding_id', r.holding_id::text, 'errors', r.errors, 'warnings', r.warnings)))::text
       END AS json
  FROM delivery_records r WHERE r.delivery_id = $1
 ORDER BY coalesce(r.parent_position, r.position), r.kind = 'holding', r.position
"""


async def entries(conn: asyncpg.Connection, delivery_id: int) -> AsyncIterator[dict[str, Any]]:
    """The report's records in file order, each bibliographic record with its holdings.

    Streams from a server-side cursor, so a report of a million records never sits in memory.
    Must run inside a transaction.
    """
    async for batch in _grouped(conn, delivery_id):
        for text in batch:
            yield json.loads(text)


async def _grouped(conn: asyncpg.Connection, delivery_id: int, size: int = 2000) -> AsyncIterator[list[str]]:
    """The entries as JSON texts, a batch at a time (one round trip, and one await, per `size`
    rows). A bibliographic record is handed out once the row after its last holding is seen."""
    open_bib: list[str] | None = None  # the record's text, then its holdings' texts
    open_position = 0
    cursor = await conn.cursor(ENTRIES_SQL, delivery_id)
    while rows := await cursor.fetch(size):
        out: list[str] = []
        for bib, position, parent, text in rows:
            if open_bib is not None:
                if not bib and parent == open_position:
                    open_bib.append(text)
                    continue
                out.append(_close(open_bib))
                open_bib = None
            if bib:
                open_bib, open_position = [text], position
            else:
                out.append(text)
        if out:
            yield out
    if open_bib is not None:
        yield [_close(open_bib)]


def _close(parts: list[str]) -> str:
    """A bibliographic record's text with its holdings' texts in its "holdings" list."""
    return parts[0] + ", ".join(parts[1:]) + "]}"


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
    conn: asyncpg.Connection, delivery_id: int, supplier_id: int | None, write: Callable[[bytes], Awaitable[None]],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write the full report as one JSON object, record by record (memory does not grow);
    `extra` members (e.g. `replayed`) go with the header."""
    report = await header(conn, delivery_id, supplier_id)
    report.update(extra or {})
    head = json.dumps(report, ensure_ascii=False)
    await write(head[:-1].encode() + b', "records": [')
    first = True
    async with conn.transaction():
        async for batch in _grouped(conn, delivery_id):
            text = ",".join(batch)
            await write(((text if first else "," + text)).encode())
            first = False
    await write(b"]}")


async def listing(
    conn: asyncpg.Connection, supplier_id: int | None, limit: int, before: int | None, *,
    status: str | None = None, supplier_code: str | None = None, since: datetime | None = None,
    until: datetime | None = None, sigel: str | None = None,
) -> list[dict[str, Any]]:
    """Deliveries newest first, `before` an id to page on; the filters narrow it (received
    since/until, a status, a supplier's code, those with records for a sigel)."""
    rows = await conn.fetch(
        """SELECT d.id, d.status, s.code AS supplier, d.received_at, d.finished_at, d.record_count, d.summary
             FROM deliveries d JOIN suppliers s ON s.id = d.supplier_id
            WHERE ($1::bigint IS NULL OR d.supplier_id = $1) AND ($2::bigint IS NULL OR d.id < $2)
              AND ($4::text IS NULL OR d.status = $4) AND ($5::text IS NULL OR s.code = $5)
              AND ($6::timestamptz IS NULL OR d.received_at >= $6)
              AND ($7::timestamptz IS NULL OR d.received_at < $7)
              AND ($8::text IS NULL OR EXISTS (SELECT FROM delivery_records r
                                                WHERE r.delivery_id = d.id AND r.sigel = $8))
            ORDER BY d.id DESC LIMIT $3""",
        supplier_id, before, limit, status, supplier_code, since, until, sigel,
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
