"""Libris's own supplier-load fixtures, delivered through HTTP, with the outcomes the rules imply."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from tests.intake.helpers import World, deliver
from tests.xmlschemas import testdata


def fixture(name: str) -> bytes:
    return (testdata("libris-batchimport") / name).read_bytes()


async def test_first_delivery_creates_record_and_holding(client: TestClient, world: World,
                                                         pool: asyncpg.Pool) -> None:
    status, report = await deliver(client, world.supplier_token, fixture("batch0.xml"))
    assert status == 200, report
    assert report["status"] == "done"
    assert report["summary"]["created"] == 1
    assert report["summary"]["holdings_added"] == 1
    (entry,) = report["records"]
    assert entry["outcome"] == "created"
    assert "isbn:9789150222319" in entry["identifiers"]
    assert [h["sigel"] for h in entry["holdings"]] == ["Sods"]
    async with pool.acquire() as conn:
        xml = await conn.fetchval("SELECT marcxml FROM bib_records WHERE id = $1", int(entry["record_id"]))
    assert f'<controlfield tag="001">{entry["record_id"]}</controlfield>' in xml
    assert "(SE-LIBR)20203738" in xml


async def test_isbn_forms_meet_on_one_record(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    ids = set()
    for name in ("batch2.xml", "batch3.xml", "batch4.xml", "batch8.xml"):
        status, report = await deliver(client, world.supplier_token, fixture(name))
        assert status == 200, report
        ids.add(report["records"][0]["record_id"])
        assert report["records"][0]["outcome"] in ("created", "matched", "updated"), report
    assert len(ids) == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bib_records") == 1
        assert await conn.fetchval("SELECT count(*) FROM holdings") == 1


async def test_electronic_edition_stays_apart(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    _, print_report = await deliver(client, world.supplier_token, fixture("batch0.xml"))
    _, e_report = await deliver(client, world.supplier_token, fixture("batch7.xml"))
    _, e2_report = await deliver(client, world.supplier_token, fixture("batch9.xml"))
    _, cf_report = await deliver(client, world.supplier_token, fixture("batch6.xml"))
    p_id = print_report["records"][0]["record_id"]
    e_id = e_report["records"][0]["record_id"]
    assert e_report["records"][0]["outcome"] == "created"
    assert e_id != p_id
    assert e2_report["records"][0]["record_id"] == e_id
    assert cf_report["records"][0]["record_id"] not in (p_id, e_id)


async def test_batch15_attaches_three_holdings(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    status, report = await deliver(client, world.supplier_token, fixture("batch15.xml"))
    assert status == 200
    (entry,) = report["records"]
    assert sorted(h["sigel"] for h in entry["holdings"]) == ["G", "Li", "Sods"]
    assert all(h["outcome"] == "added" for h in entry["holdings"])
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT sigel, bib_id FROM holdings ORDER BY sigel")
    assert {r["bib_id"] for r in rows} == {int(entry["record_id"])}


async def test_libris_sequence_follows_precedence(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    """batch0 (level 8) → batch1 (8, new 035, holding Nyks) replaces it → batch13 (level 5) cannot →
    batch14 (8) replaces again → batch10 (another 001, same ISBN) matches the same record."""
    outcomes = []
    ids = set()
    for name in ("batch0.xml", "batch1.xml", "batch13.xml", "batch14.xml", "batch10.xml"):
        status, report = await deliver(client, world.supplier_token, fixture(name))
        assert status == 200, report
        (entry,) = report["records"]
        outcomes.append(entry["outcome"])
        ids.add(entry["record_id"])
    assert outcomes == ["created", "updated", "matched", "updated", "updated"]
    assert len(ids) == 1
    async with pool.acquire() as conn:
        xml = await conn.fetchval("SELECT marcxml FROM bib_records")
        sigels = [r["sigel"] for r in await conn.fetch("SELECT sigel FROM holdings ORDER BY sigel")]
        sysnos = {r["value"] for r in await conn.fetch("SELECT value FROM bib_identifiers WHERE kind = 'sysno'")}
    assert "Polisbilen får ett larm" in xml  # batch10's title: a level-8 record replaced batch14's
    assert sigels == ["Nyks", "Sods"]
    # identifiers accumulate: both the old and the new 035 still find the record
    assert {"(BOKR)9789150222319_OLD", "(BOKR)9789150222319_NEW"} <= sysnos


async def test_issn_and_ean_fixtures(client: TestClient, world: World) -> None:
    _, issn = await deliver(client, world.supplier_token, fixture("batch5.xml"))
    assert "issn:2049-3630" in issn["records"][0]["identifiers"]
    _, ean = await deliver(client, world.supplier_token, fixture("batch11.xml"))
    entry = ean["records"][0]
    assert "ean:5051895056684" in entry["identifiers"]
    # no ISBN or EAN candidates, so the shared 001/003 system number decides: batch5's record
    assert entry["record_id"] == issn["records"][0]["record_id"]
    assert entry["holdings"][0]["outcome"] == "updated"


async def test_libris_holdings_template_draws_no_warnings(client: TestClient, world: World) -> None:
    """The holdings template Libris documents for suppliers (placeholder lengths `XXXXX`, Leader/05
    'a', empty indicators in 852) is the supplier format: accepted without a warning, while a
    supplier's own mistakes in the same places still draw one."""
    seen = 0
    for name in ("batch0.xml", "batch1.xml", "batch5.xml", "batch11.xml", "batch15.xml"):
        status, report = await deliver(client, world.supplier_token, fixture(name))
        assert status == 200, report
        for entry in report["records"]:
            for h in entry["holdings"]:
                seen += 1
                assert h["warnings"] == [], (name, h)
                assert h["outcome"] in ("added", "updated"), (name, h)
    assert seen >= 5
    template = fixture("batch0.xml").decode()
    assert "XXXXXax  a22XXXXX1n 4500" in template and 'ind1=""' in template  # what is being accepted
    # what a supplier should fix still warns: a garbled length, an unknown status, a bad indicator
    broken = (template.replace("XXXXXax  a22XXXXX1n", "12#45qx  a22XXXXX1n")
              .replace('ind1="" ind2=""', 'ind1="#" ind2=""'))
    status, report = await deliver(client, world.supplier_token, broken.encode())
    assert status == 200, report
    (holding,) = report["records"][0]["holdings"]
    assert {w["code"] for w in holding["warnings"]} == {"LEADER_LENGTHS_FIXED", "LEADER_STATUS_INVALID",
                                                       "INDICATOR_FIXED"}
