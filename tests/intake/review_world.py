"""A review-queue scene for the action tests, and reading its effects back through OAI-PMH and SRU
over the running app's HTTP."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from lxml import etree

from tests.intake.helpers import ADMIN_TOKEN, World, deliver
from tests.intake.marcxml import bib, collection, holding

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ISBN_A = "9789127108509"
ISBN_B = "9789150222319"
OAI = {"o": "http://www.openarchives.org/OAI/2.0/"}
SRU = {"s": "http://www.loc.gov/zing/srw/", "marc": "http://www.loc.gov/MARC21/slim"}
PREFIX = "oai:forvarv.example.org:"


@dataclass
class Scene:
    a: str            # the older candidate, which the incoming record was attached to (holding Nyks)
    b: str            # the younger candidate (holding Li)
    item: int         # the review item
    delivery: str     # the incoming delivery (holding Sods)
    sods_holding: str  # the incoming holding, on a
    since: str        # an OAI-PMH `from` after everything above


async def load(client: TestClient, token: str, *records: str) -> dict[str, Any]:
    status, report = await deliver(client, token, collection(*records))
    assert status == 200 and report["status"] == "done", report
    return report


async def scene(client: TestClient, world: World) -> Scene:
    a = (await load(client, world.supplier_token, bib(own_id="A1", isbn=[ISBN_A], title="Äldre", level=" "),
                    holding("Nyks")))["records"][0]["record_id"]
    b = (await load(client, world.supplier_token, bib(own_id="B1", isbn=[ISBN_B], title="Yngre", level=" "),
                    holding("Li")))["records"][0]["record_id"]
    incoming = await load(client, world.supplier_token,
                          bib(own_id="C1", isbn=[ISBN_A, ISBN_B], title="Inkommande titel", level="5"),
                          holding("Sods", call_number="Hc"))
    entry = incoming["records"][0]
    assert entry["record_id"] == a and sorted(entry["candidates"]) == sorted([a, b])
    items = (await (await client.get("/admin/review", headers=ADMIN)).json())["items"]
    assert len(items) == 1
    # OAI-PMH datestamps have seconds granularity: `from` must lie after the scene's writes
    await asyncio.sleep(1.1)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await asyncio.sleep(1.0)
    return Scene(a, b, items[0]["id"], incoming["id"], entry["holdings"][0]["holding_id"], since)


async def oai(client: TestClient, **params: str) -> dict[str, bool]:
    """{identifier: deleted} of a ListIdentifiers harvest (all pages)."""
    await asyncio.sleep(0.1)  # past the harvest horizon
    found: dict[str, bool] = {}
    query = {"verb": "ListIdentifiers", "metadataPrefix": "marc21", **params}
    while True:
        resp = await client.get("/oai", params=query)
        assert resp.status == 200
        root = etree.fromstring(await resp.read())
        error = root.find("o:error", OAI)
        if error is not None:
            assert error.get("code") == "noRecordsMatch", etree.tostring(error)
            return found
        for header in root.iterfind(".//o:header", OAI):
            found[header.findtext("o:identifier", namespaces=OAI) or ""] = header.get("status") == "deleted"
        token = root.findtext(".//o:resumptionToken", namespaces=OAI)
        if not token:
            return found
        query = {"verb": "ListIdentifiers", "resumptionToken": token}


async def oai_records(client: TestClient, **params: str) -> dict[str, etree._Element]:
    """{identifier: record element} of a ListRecords page."""
    await asyncio.sleep(0.1)
    resp = await client.get("/oai", params={"verb": "ListRecords", "metadataPrefix": "marc21", **params})
    root = etree.fromstring(await resp.read())
    return {r.findtext("o:header/o:identifier", namespaces=OAI) or "": r for r in root.iterfind(".//o:record", OAI)}


def bib_id(record_id: str) -> str:
    return f"{PREFIX}bib/{record_id}"


def hold_id(holding_id: str) -> str:
    return f"{PREFIX}hold/{holding_id}"


async def sru(client: TestClient, query: str) -> list[str]:
    """001 of every record an SRU searchRetrieve finds."""
    resp = await client.get("/sru", params={"operation": "searchRetrieve", "version": "1.1", "query": query,
                                            "maximumRecords": "50"})
    assert resp.status == 200
    root = etree.fromstring(await resp.read())
    assert root.find(".//s:diagnostics", SRU) is None, etree.tostring(root)
    return [e.text or "" for e in root.iterfind(".//marc:record/marc:controlfield[@tag='001']", SRU)]


async def record(client: TestClient, record_id: str) -> dict[str, Any]:
    resp = await client.get(f"/admin/records/{record_id}", headers=ADMIN)
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


def live_sigels(detail: dict[str, Any]) -> list[str]:
    return sorted(h["sigel"] for h in detail["holdings"] if not h["deleted"])
