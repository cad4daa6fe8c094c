"""Test data for SRU, written into the real database the way the intake writes it.

A record is built with protocols.marc (Record, writer, summary, identifiers), so the stored
marcxml, the summary jsonb and the bib_identifiers rows are what the loader would store; the
rows go in with parameterised INSERTs (modified_at = now(), the transaction's start).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import asyncpg

from protocols.marc import summary as marc_summary
from protocols.marc.identifiers import extract
from protocols.marc.record import ControlField, DataField, Record
from protocols.marc.writer import to_marcxml


@dataclass
class Book:
    id: int
    title: str
    creators: Sequence[str] = ()
    subjects: Sequence[str] = ()
    isbns: Sequence[str] = ()
    issns: Sequence[str] = ()
    eans: Sequence[str] = ()
    year: str | None = "2017"
    language: str = "swe"
    publisher: str | None = "Bonnier"
    encoding_level: str = " "
    sysno: str | None = None
    holdings: Sequence[str] = ()          # sigels
    deleted_holdings: Sequence[str] = ()  # sigels whose holding is a tombstone
    suppliers: Sequence[str] = ()         # supplier codes that delivered it
    nfd: bool = False                     # store every text decomposed (NFD)
    deleted: bool = False
    extra: list[DataField] = field(default_factory=list)

    def record(self) -> Record:
        form: Literal["NFC", "NFD"] = "NFD" if self.nfd else "NFC"

        def t(value: str) -> str:
            return unicodedata.normalize(form, value)

        leader = f"00000nam a2200000{self.encoding_level}i 4500"
        year = (self.year or "    ").ljust(4)[:4]
        f008 = f"170327s{year}    sw ||||j     |00| 0|{self.language} d"
        rec = Record(leader, [ControlField("001", str(self.id)), ControlField("003", "FORVARV"),
                              ControlField("008", f008)])
        for isbn in self.isbns:
            rec.datafields.append(DataField("020", " ", " ", [("a", isbn)]))
        for issn in self.issns:
            rec.datafields.append(DataField("022", " ", " ", [("a", issn)]))
        for ean in self.eans:
            rec.datafields.append(DataField("024", "3", " ", [("a", ean)]))
        if self.sysno:
            rec.datafields.append(DataField("035", " ", " ", [("a", self.sysno)]))
        for n, name in enumerate(self.creators):
            rec.datafields.append(DataField("100" if n == 0 else "700", "1", " ", [("a", t(name))]))
        rec.datafields.append(DataField("245", "1", "0", [("a", t(self.title))]))
        if self.publisher or self.year:
            subs = [("a", "Stockholm :")]
            if self.publisher:
                subs.append(("b", t(self.publisher) + ","))
            if self.year:
                subs.append(("c", self.year))
            rec.datafields.append(DataField("264", " ", "1", subs))
        for subject in self.subjects:
            rec.datafields.append(DataField("650", " ", "7", [("a", t(subject)), ("2", "sao")]))
        for extra in self.extra:
            rec.add_datafield(extra)
        rec.datafields.sort(key=lambda df: df.tag)
        return rec


def holding_xml(holding_id: int, bib_id: int, sigel: str, shelf: str = "Hc") -> str:
    rec = Record("00000nx  a22000001n 4500", [
        ControlField("001", str(holding_id)),
        ControlField("004", str(bib_id)),
        ControlField("008", "170714||0000|||||000||||||000000"),
    ], [
        DataField("852", " ", " ", [("b", sigel), ("h", shelf)]),
        DataField("866", " ", "0", [("a", "1 ex.")]),
    ])
    return to_marcxml(rec)


async def add_library(conn: asyncpg.Connection, sigel: str) -> None:
    await conn.execute(
        "INSERT INTO libraries (sigel, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        sigel, f"Library {sigel}",
    )


async def add_supplier(conn: asyncpg.Connection, code: str) -> int:
    found: int | None = await conn.fetchval("SELECT id FROM suppliers WHERE code = $1", code)
    if found is not None:
        return found
    new: int = await conn.fetchval(
        "INSERT INTO suppliers (code, name) VALUES ($1, $2) RETURNING id", code, f"Supplier {code}"
    )
    return new


async def add_books(pool: asyncpg.Pool, books: Iterable[Book]) -> None:
    """Insert the books (and their holdings and supplier links) in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        for book in books:
            record = book.record()
            summary = marc_summary.describe(record)
            supplier_ids = [await add_supplier(conn, code) for code in book.suppliers]
            await conn.execute(
                """INSERT INTO bib_records (id, match_class, encoding_level, marcxml, summary, supplier_id,
                                            deleted)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)""",
                book.id, "a:print", book.encoding_level, to_marcxml(record), summary,
                supplier_ids[0] if supplier_ids else None, book.deleted,
            )
            for kind, value in extract(record).pairs():
                await conn.execute(
                    "INSERT INTO bib_identifiers (kind, value, bib_id) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING", kind, value, book.id,
                )
            for supplier_id in supplier_ids:
                await conn.execute(
                    "INSERT INTO bib_suppliers (bib_id, supplier_id) VALUES ($1, $2)", book.id, supplier_id
                )
            for n, sigel in enumerate([*book.holdings, *book.deleted_holdings]):
                await add_library(conn, sigel)
                holding_id = book.id * 10 + n
                await conn.execute(
                    """INSERT INTO holdings (id, bib_id, sigel, marcxml, deleted)
                       VALUES ($1, $2, $3, $4, $5)""",
                    holding_id, book.id, sigel, holding_xml(holding_id, book.id, sigel),
                    sigel in book.deleted_holdings,
                )


async def set_modified(pool: asyncpg.Pool, bib_id: int, stamp: str) -> None:
    """Pin a record's modification time (ISO 8601), as a later update would."""
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE bib_records SET modified_at = $1::text::timestamptz WHERE id = $2", stamp, bib_id
        )
