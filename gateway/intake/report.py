"""The delivery report: what happened to every record of a delivery.

Built from `delivery_records` (one row per record in the file). Holdings are nested under the
bibliographic record they belong to; a holding that belongs to none is listed on its own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from gateway.errors import NotFound
from gateway.store.queries import load

Q = load("report")

SUMMARY_SQL = Q["summary"]

#: A bibliographic record matched to several candidates: attached to the oldest (as `matched` or
#: `updated`, which is what delivery_records keeps) and queued for review; reported as this.
AMBIGUOUS = "ambiguous"


def reported_outcome(kind: str, outcome: str, candidates: Sequence[object]) -> str:
    """The outcome a reader is told: `ambiguous` for a bibliographic match with several candidates
    (the entries and summary SQL say the same in SQL), else the stored one."""
    if kind == "bib" and outcome in ("matched", "updated") and len(candidates) > 1:
        return AMBIGUOUS
    return outcome


async def candidate_titles(conn: asyncpg.Connection, record_ids: Iterable[int]) -> dict[int, str | None]:
    """The current title of each of these records (candidates of ambiguous matches)."""
    wanted = sorted(set(record_ids))
    if not wanted:
        return {}
    return {int(r["id"]): r["title"] for r in await conn.fetch(Q["candidate_titles"], wanted)}


async def summary(conn: asyncpg.Connection, delivery_id: int) -> dict[str, int]:
    row = await conn.fetchrow(SUMMARY_SQL, delivery_id)
    return {k: int(v) for k, v in row.items()}


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


async def delivery_header(conn: asyncpg.Connection, delivery_id: int, supplier_id: int | None) -> dict[str, Any]:
    row = await conn.fetchrow(
        Q["delivery_header"],
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
        "pruned": pruned(row["finished_at"], row["payload_pruned_at"], row["results_pruned_at"]),
    }


#: What a reader is told about history removed by `forvarv prune` (gateway/intake/retention.py).
PRUNED_TEXT = {"payload": "the original file was removed after {days} days (retention)",
               "results": "the per-record results were removed after {days} days (retention); "
                          "the summary is kept"}


def pruned(finished_at: datetime | None, payload_at: datetime | None,
           results_at: datetime | None) -> dict[str, Any] | None:
    """`{"payload": {...}, "results": {...}}` for what was removed (when, how many days after the
    delivery finished, and a sentence saying so), or None when nothing was."""
    out: dict[str, Any] = {}
    for part, at in (("payload", payload_at), ("results", results_at)):
        if at is None:
            continue
        days = (at - finished_at).days if finished_at is not None else 0
        out[part] = {"removed_at": _iso(at), "after_days": days, "note": PRUNED_TEXT[part].format(days=days)}
    return out or None


def results_pruned(head: dict[str, Any]) -> bool:
    return bool(head.get("pruned") and "results" in head["pruned"])


# The report's entries, built by PostgreSQL as JSON text, one row per record in the order the
# report lists them: a holding sorts right after the bibliographic record it belongs to (also
# when its 004 pointed forward). A bibliographic record's text stops inside its "holdings" list
# (`left(..., -2)` drops the closing "]}"), which `_grouped` fills with the holdings' texts that
# follow it; a holding whose record is not in the delivery is an entry of its own.
ENTRIES_SQL = Q["entries"]


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
    if results_pruned(report):  # what is left (rows for provenance) is not the report
        report["records"] = []
        return report
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
    if results_pruned(report):  # what is left (rows for provenance) is not the report
        await write(b"]}")
        return
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
        Q["listing"],
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
