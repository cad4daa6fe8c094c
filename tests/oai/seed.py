"""Test data written straight into the real database, the way the intake's writers do.

Until the intake loader lands, tests seed bib_records/holdings/libraries/suppliers here with
parameterised INSERTs: modified_at = oai_datestamp() (as the writers take it, migration 0015)
unless a test pins a time, and holdings.set_datestamp = greatest(bib modified, holding modified).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

import asyncpg

MARC_NS = "http://www.loc.gov/MARC21/slim"


def bib_xml(id: int, title: str, isbn: str | None = None, extra: str = "") -> str:
    isbn_field = (
        f'<datafield tag="020" ind1=" " ind2=" "><subfield code="a">{isbn}</subfield></datafield>' if isbn else ""
    )
    return (
        f'<record xmlns="{MARC_NS}" type="Bibliographic">'
        "<leader>00000nam a2200000 a 4500</leader>"
        f'<controlfield tag="001">{id}</controlfield>'
        '<controlfield tag="003">FORVARV</controlfield>'
        '<controlfield tag="008">170327s2017    sw ||||j     |00| 0|swe d</controlfield>'
        f"{isbn_field}"
        f'<datafield tag="245" ind1="1" ind2="0"><subfield code="a">{escape(title)}</subfield></datafield>'
        f"{extra}</record>"
    )


def holding_xml(id: int, bib_id: int, sigel: str, shelf: str = "Hylla") -> str:
    return (
        f'<record xmlns="{MARC_NS}" type="Holdings">'
        "<leader>00000nx  a22000001n 4500</leader>"
        f'<controlfield tag="001">{id}</controlfield>'
        f'<controlfield tag="004">{bib_id}</controlfield>'
        '<controlfield tag="008">170714||0000|||||000||||||000000</controlfield>'
        f'<datafield tag="852" ind1=" " ind2=" "><subfield code="b">{sigel}</subfield>'
        f'<subfield code="h">{shelf}</subfield></datafield>'
        '<datafield tag="866" ind1=" " ind2="0"><subfield code="a">1 ex.</subfield></datafield>'
        "</record>"
    )


def summary(title: str, isbn: str | None = None) -> dict[str, Any]:
    return {
        "title": title,
        "creators": ["Bently, Peter"],
        "subjects": ["Polisbilar"],
        "publisher": "Berghs",
        "year": "2017",
        "language": "swe",
        "type": "Text",
        "extent": "32 sidor",
        "isbns": [isbn] if isbn else [],
        "issns": [],
        "eans": [],
        "edition": None,
    }


async def add_library(conn: asyncpg.Connection, sigel: str, name: str) -> None:
    await conn.execute("INSERT INTO libraries (sigel, name) VALUES ($1, $2)", sigel, name)


async def add_supplier(conn: asyncpg.Connection, code: str, name: str) -> int:
    id: int = await conn.fetchval("INSERT INTO suppliers (code, name) VALUES ($1, $2) RETURNING id", code, name)
    return id


async def add_bib(
    conn: asyncpg.Connection,
    title: str,
    *,
    isbn: str | None = None,
    supplier_id: int | None = None,
    at: datetime | None = None,
    marcxml: str | None = None,
    extra: str = "",
) -> int:
    id: int = await conn.fetchval("SELECT nextval('bib_id_seq')")
    await conn.execute(
        """INSERT INTO bib_records (id, match_class, encoding_level, marcxml, summary, supplier_id,
                                    created_at, modified_at)
           VALUES ($1, 'am', '5', $2, $3::jsonb, $4, coalesce($5, oai_datestamp()), coalesce($5, oai_datestamp()))""",
        id,
        marcxml if marcxml is not None else bib_xml(id, title, isbn, extra),
        summary(title, isbn),
        supplier_id,
        at,
    )
    if supplier_id is not None:
        await conn.execute("INSERT INTO bib_suppliers (bib_id, supplier_id) VALUES ($1, $2)", id, supplier_id)
    return id


async def add_holding(
    conn: asyncpg.Connection, bib_id: int, sigel: str, *, at: datetime | None = None, shelf: str = "Hylla"
) -> int:
    id: int = await conn.fetchval("SELECT nextval('holding_id_seq')")
    await conn.execute(
        """INSERT INTO holdings (id, bib_id, sigel, marcxml, created_at, modified_at, set_datestamp)
           SELECT $1, $2, $3, $4, coalesce($5, oai_datestamp()), coalesce($5, oai_datestamp()),
                  greatest(b.modified_at, coalesce($5, oai_datestamp()))
           FROM bib_records b WHERE b.id = $2""",
        id,
        bib_id,
        sigel,
        holding_xml(id, bib_id, sigel, shelf),
        at,
    )
    return id


async def touch_bib(conn: asyncpg.Connection, bib_id: int, *, title: str | None = None, delete: bool = False) -> None:
    """A writer changing (or deleting) a bib: its holdings' set datestamps move with it."""
    async with conn.transaction():
        if title is not None:
            await conn.execute(
                "UPDATE bib_records SET marcxml = $2, modified_at = oai_datestamp() WHERE id = $1",
                bib_id,
                bib_xml(bib_id, title),
            )
        await conn.execute(
            "UPDATE bib_records SET modified_at = oai_datestamp(), deleted = deleted OR $2 WHERE id = $1",
            bib_id,
            delete,
        )
        await conn.execute("UPDATE holdings SET set_datestamp = oai_datestamp() WHERE bib_id = $1", bib_id)


async def touch_holding(
    conn: asyncpg.Connection, holding_id: int, *, shelf: str | None = None, delete: bool = False
) -> None:
    async with conn.transaction():
        if shelf is not None:
            row = await conn.fetchrow("SELECT bib_id, sigel FROM holdings WHERE id = $1", holding_id)
            await conn.execute(
                "UPDATE holdings SET marcxml = $2 WHERE id = $1",
                holding_id,
                holding_xml(holding_id, row["bib_id"], row["sigel"], shelf),
            )
        await conn.execute(
            """UPDATE holdings SET modified_at = oai_datestamp(), set_datestamp = oai_datestamp(),
                                   deleted = deleted OR $2
               WHERE id = $1""",
            holding_id,
            delete,
        )
