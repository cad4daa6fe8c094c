"""Test data written with plain, parameterised SQL: suppliers, libraries, a finished delivery with
its per-record results and stored bibliographic records (as the loader writes them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import asyncpg


async def supplier(conn: asyncpg.Connection, code: str = "BTJ", name: str = "BTJ Sverige AB") -> int:
    sid: int = await conn.fetchval(
        "INSERT INTO suppliers (code, name) VALUES ($1, $2) RETURNING id", code, name
    )
    return sid


async def library(
    conn: asyncpg.Connection,
    sigel: str,
    name: str | None = None,
    emails: list[str] | None = None,
    *,
    language: str = "sv",
    digest: bool = False,
) -> None:
    await conn.execute(
        "INSERT INTO libraries (sigel, name, emails, language, digest) VALUES ($1, $2, $3, $4, $5)",
        sigel,
        name or f"Bibliotek {sigel}",
        emails if emails is not None else [f"{sigel.lower()}@bibliotek.example"],
        language,
        digest,
    )


@dataclass
class Title:
    """A bibliographic record of a delivery and the holdings sent with it."""

    title: str
    outcome: str = "created"  # bib outcome: created|matched|updated|rejected
    holdings: list[tuple[str, str]] = field(default_factory=list)  # (sigel, holding outcome)
    creators: list[str] = field(default_factory=lambda: ["Lindgren, Astrid"])
    isbn: str | None = "9789129688313"
    errors: list[dict[str, str]] = field(default_factory=list)  # of the bib record
    holding_errors: list[dict[str, str]] = field(default_factory=list)


async def delivery(conn: asyncpg.Connection, supplier_id: int, titles: list[Title]) -> int:
    """A 'done' delivery with delivery_records, bib_records and holdings for every title."""
    did: int = await conn.fetchval(
        """INSERT INTO deliveries (supplier_id, format, sha256, size, record_count, status,
                                   started_at, finished_at)
           VALUES ($1, 'marcxml', $2, 1000, $3, 'done', now(), now()) RETURNING id""",
        supplier_id,
        b"\x00" * 32,
        sum(1 + len(t.holdings) for t in titles),
    )
    position = 0
    for t in titles:
        position += 1
        bib_position = position
        ids = [f"isbn:{t.isbn}"] if t.isbn else []
        record_id = None
        if t.outcome != "rejected":
            record_id = await bib_record(conn, supplier_id, t)
        await conn.execute(
            """INSERT INTO delivery_records (delivery_id, position, kind, identifiers, outcome, record_id,
                                             title, errors)
               VALUES ($1, $2, 'bib', $3, $4, $5, $6, $7::text::jsonb)""",
            did,
            position,
            ids,
            t.outcome,
            record_id,
            t.title,
            json.dumps(t.errors),
        )
        for sigel, outcome in t.holdings:
            position += 1
            holding_id = None
            errors: list[dict[str, str]] = []
            if outcome == "rejected":
                errors = t.holding_errors or [
                    {
                        "code": "HOLDING_PARENT_REJECTED",
                        "message": f"the bibliographic record at position {bib_position} was rejected",
                    }
                ]
            elif record_id is not None:
                holding_id = await conn.fetchval(
                    """INSERT INTO holdings (id, bib_id, sigel, supplier_id, marcxml, deleted)
                       VALUES (nextval('holding_id_seq'), $1, $2, $3, '<record/>', $4) RETURNING id""",
                    record_id,
                    sigel,
                    supplier_id,
                    outcome == "deleted",
                )
            await conn.execute(
                """INSERT INTO delivery_records (delivery_id, position, kind, parent_position, outcome,
                                                 record_id, holding_id, sigel, errors)
                   VALUES ($1, $2, 'holding', $3, $4, $5, $6, $7, $8::text::jsonb)""",
                did,
                position,
                bib_position,
                outcome,
                record_id,
                holding_id,
                sigel,
                json.dumps(errors),
            )
    return did


async def bib_record(conn: asyncpg.Connection, supplier_id: int, t: Title) -> int:
    summary: dict[str, Any] = {
        "title": t.title,
        "creators": t.creators,
        "subjects": [],
        "publisher": "Rabén & Sjögren",
        "year": "2020",
        "language": "swe",
        "type": "book",
        "extent": None,
        "isbns": [t.isbn] if t.isbn else [],
        "issns": [],
        "eans": [],
        "edition": None,
    }
    marcxml = (
        '<record xmlns="http://www.loc.gov/MARC21/slim" type="Bibliographic">'
        "<leader>00000nam a2200000 a 4500</leader></record>"
    )
    rid: int = await conn.fetchval(
        """INSERT INTO bib_records (id, match_class, encoding_level, marcxml, summary, supplier_id)
           VALUES (nextval('bib_id_seq'), 'am', '5', $1, $2::text::jsonb, $3) RETURNING id""",
        marcxml,
        json.dumps(summary),
        supplier_id,
    )
    return rid


async def statuses(conn: asyncpg.Connection) -> dict[int, str]:
    return {
        r["id"]: r["status"] for r in await conn.fetch("SELECT id, status FROM notifications ORDER BY id")
    }
