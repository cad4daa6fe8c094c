"""A body of the other MARC serialisation than the one declared is refused with a hint saying which
Content-Type to send."""

from __future__ import annotations

import aiohttp
import asyncpg

from gateway import registry
from protocols.marc.record import ControlField, DataField, Record
from protocols.marc.writer import to_iso2709
from tests.http_edges.conftest import Gateway

MARCXML = (b'<collection xmlns="http://www.loc.gov/MARC21/slim"><record><leader>00000nam a2200000 a 4500</leader>'
           b'<controlfield tag="001">x1</controlfield></record></collection>')


async def test_the_other_serialisation_gets_a_hint(gateway: Gateway, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await registry.add_supplier(conn, "HINT", "Hint supplier")
        _, token = await registry.create_token(conn, "HINT")
    iso = to_iso2709(Record("00000nam a2200000 i 4500", [ControlField("001", "i1")],
                            [DataField("245", "1", "0", [("a", "Binär")])]))
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{gateway.url}/deliveries", data=iso,
                          headers={**auth, "Content-Type": "application/marcxml+xml"}) as r:
            body = await r.json()
            assert r.status == 400, body
            assert "not a usable MARCXML document" in body["message"]
            assert "send it with Content-Type: application/marc" in body["message"]
        async with s.post(f"{gateway.url}/deliveries", data=MARCXML,
                          headers={**auth, "Content-Type": "application/marc"}) as r:
            body = await r.json()
            assert r.status == 400, body
            assert "Content-Type: application/marcxml+xml" in body["message"]
        async with s.post(f"{gateway.url}/deliveries", data=b"<not-marc/>",
                          headers={**auth, "Content-Type": "application/marcxml+xml"}) as r:
            body = await r.json()
            assert r.status == 400 and "looks like" not in body["message"], body
