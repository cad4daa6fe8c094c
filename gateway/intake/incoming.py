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
from protocols.marc.isoreader import IsoFault, IsoParser
from protocols.marc.xmlreader import MarcXmlParser, ReadResult, XMLFault, element_to_record

Q = load("review")


def _find(parser: MarcXmlParser | IsoParser, data: bytes | None,
          position: int) -> tuple[ReadResult | None, int]:
    """The record at `position` if this chunk (None: the end) completes it; the last position read.
    MARCXML records before it are passed over without being converted, and lazily, so a syntax
    error later in the same chunk does not hide the record."""
    last = 0
    if isinstance(parser, MarcXmlParser):
        for pos, elem in parser.iter_elements(data):
            if pos == position:
                return element_to_record(elem, pos), pos
            last = pos
        return None, last
    for result in parser.close() if data is None else parser.feed(data):
        if result.position == position:
            return result, result.position
        last = result.position
    return None, last


async def incoming_record(conn: asyncpg.Connection, delivery_id: int, position: int,
                          org_code: str) -> PreparedBib | None:
    """The bibliographic record at `position` as the loader prepared it; None if there is none
    (no such delivery or position, or a holdings record there)."""
    meta = await conn.fetchrow(Q["delivery_meta"], delivery_id)
    if meta is None:
        return None
    parser = new_parser(meta["format"], meta["charset"])
    seq = 0
    try:
        while True:
            data = await conn.fetchval(Q["chunk"], delivery_id, seq)
            # in a thread: parsing a long payload must not hold up the event loop's other requests
            found, last = await asyncio.to_thread(_find, parser, data, position)
            if found is not None:
                pos, record, problems = found
                if record is not None and record.is_holdings:
                    return None
                return prepare_bib(pos, record, problems, meta["supplier_code"], org_code)
            if data is None or last > position:
                return None
            seq += 1
    except (XMLFault, IsoFault):  # a payload that fails before the position: nothing to give
        return None
