"""An incoming bibliographic record read back from its delivery's stored payload.

The payload is kept (delivery_chunks) after loading, and positions are stable, so the record at a
position is found again by reading the payload up to it and preparing it exactly as the loader
did (gateway.intake.prepare). A review item needs it when the incoming record becomes a record of
its own (`separate`) or is shown beside its candidates.
"""

from __future__ import annotations

import asyncio

import asyncpg

from gateway.intake.prepare import PreparedBib, new_parser, prepare_bib
from gateway.store.queries import load
from protocols.marc.xmlreader import MarcXmlParser, XMLFault

Q = load("review")


async def incoming_record(conn: asyncpg.Connection, delivery_id: int, position: int,
                          org_code: str) -> PreparedBib | None:
    """The bibliographic record at `position` as the loader prepared it; None if there is none
    (no such delivery or position, or a holdings record there)."""
    meta = await conn.fetchrow(Q["delivery_meta"], delivery_id)
    if meta is None:
        return None
    parser = new_parser(meta["format"], meta["charset"])
    # MARCXML lazily: a syntax error later in the same chunk does not hide the record before it
    feed = parser.iter_feed if isinstance(parser, MarcXmlParser) else parser.feed
    seq = 0
    try:
        while True:
            data = await conn.fetchval(Q["chunk"], delivery_id, seq)
            last = 0
            for pos, record, problems in (parser.close() if data is None else feed(data)):
                if pos == position:
                    if record is not None and record.is_holdings:
                        return None
                    return prepare_bib(pos, record, problems, meta["supplier_code"], org_code)
                last = pos
            if data is None or last > position:
                return None
            seq += 1
            await asyncio.sleep(0)  # a long payload: let other requests in between chunks
    except XMLFault:
        return None
