"""Protecting a bibliographic record from supplier records: a cataloguer who has upgraded it (in
this catalogue or in the library's own system) marks it, and no incoming record replaces it
whatever its encoding level (gateway.intake.matching); holdings still attach to it. Unprotecting hands
it back to the encoding-level rules.

Changing the mark does not change the record, so its datestamp (OAI-PMH) stays as it is.
"""

from __future__ import annotations

import asyncpg

from gateway.errors import NotFound
from gateway.store import db
from gateway.store.queries import load

Q = load("protection")


async def set_protected(conn: asyncpg.Connection, record_id: int, protected: bool) -> dict[str, object]:
    """Mark or unmark the record; its state afterwards. NotFound for no (live) such record."""
    if not db.is_row_id(record_id):
        raise NotFound(f"no bibliographic record {record_id}")
    row = await conn.fetchrow(
        Q["set_protected"],
        record_id, protected,
    )
    if row is None:
        raise NotFound(f"no bibliographic record {record_id}")
    return {"record_id": str(row["id"]), "protected": row["protected"], "encoding_level": row["encoding_level"]}
