"""End to end: real supplier files through the intake's receive and loader, then harvested.

Every response is validated against the OAI-PMH and MARC 21 schemas (the endpoint fixture), so
this checks that what the loader stores can be disseminated as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway import registry
from gateway.intake import loader
from gateway.intake import receive as intake
from tests.oai.conftest import NS, Endpoint, error_code, identifiers
from tests.xmlschemas import testdata

MARC = "{http://www.loc.gov/MARC21/slim}"


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _harvest(endpoint: Endpoint, **params: str) -> list[str]:
    seen: list[str] = []
    query = dict(params)
    while True:
        root = await endpoint.get(**query)
        if error_code(root) == "noRecordsMatch":
            return seen
        assert error_code(root) is None
        seen += identifiers(root)
        token = root.findtext(".//o:resumptionToken", namespaces=NS)
        if not token:
            return seen
        query = {"verb": params["verb"], "resumptionToken": token}


async def test_libris_fixtures_loaded_by_the_intake_harvest_validly(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    folder = testdata("libris-batchimport")
    async with pool.acquire() as conn:
        supplier = await registry.add_supplier(conn, "BOKR", "Bokrondellen")
        for sigel in ("Sods", "S", "Gdig", "Li", "Nyks", "G"):
            await registry.add_library(conn, sigel, f"Bibliotek {sigel}", [])
            await registry.add_customer(conn, "BOKR", sigel)
    loaded = 0
    for path in sorted(folder.glob("batch*.xml")):
        received = await intake.receive(
            pool, supplier, _body(path.read_bytes()), content_type="application/marcxml+xml", max_body=10**7
        )
        summary = await loader.load_delivery(pool, received.id, org_code="FORVARV")
        loaded += 1
        assert summary is not None
    assert loaded >= 10
    async with pool.acquire() as conn:
        bibs = await conn.fetchval("SELECT count(*) FROM bib_records")
        holdings = await conn.fetch("SELECT id, sigel FROM holdings")
    if not bibs:
        pytest.skip("the intake stored no records from the fixtures")
    await asyncio.sleep(0.1)
    for prefix in ("marc21", "marc21_withholdings", "oai_dc"):
        got = await _harvest(endpoint, verb="ListRecords", metadataPrefix=prefix)
        assert len(got) == bibs + (len(holdings) if prefix == "marc21" else 0)
    for sigel in {r["sigel"] for r in holdings}:
        got = await _harvest(endpoint, verb="ListRecords", metadataPrefix="marc21_withholdings", set=f"bib:{sigel}")
        assert got
        got = await _harvest(endpoint, verb="ListRecords", metadataPrefix="marc21", set=f"hold:{sigel}")
        assert sorted(got) == sorted(f"oai:forvarv.example.org:hold/{r['id']}" for r in holdings if r["sigel"] == sigel)
    root = await endpoint.get(
        verb="GetRecord", identifier=f"oai:forvarv.example.org:hold/{holdings[0]['id']}", metadataPrefix="marc21"
    )
    record = root.find(f".//o:metadata/{MARC}record", NS)
    assert record is not None
    assert record.get("type") == "Holdings"
    assert record.findtext(f"{MARC}controlfield[@tag='004']") is not None
