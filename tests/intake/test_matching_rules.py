"""Matching, encoding-level precedence, holdings and the review queue, through real deliveries."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.intake.helpers import ADMIN_TOKEN, World, deliver
from tests.intake.marcxml import bib, collection, holding
from tests.xmlschemas import testdata

ISBN13 = "978-91-502-2231-9"
ISBN13_PLAIN = "9789150222319"


async def load(client: TestClient, world: World, *records: str) -> dict:  # type: ignore[type-arg]
    status, report = await deliver(client, world.supplier_token, collection(*records))
    assert status == 200, report
    assert report["status"] == "done", report
    return report


async def stored(pool: asyncpg.Pool, record_id: str) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM bib_records WHERE id = $1", int(record_id))


@pytest.mark.parametrize(
    ("existing", "incoming", "replaced"),
    [("5", "5", True), ("8", "5", False), ("5", "8", True), ("8", "8", True), ("5", "3", True),
     ("8", "7", True), ("3", "8", False), (" ", "8", False), ("1", "5", False), ("4", "8", False),
     ("7", "7", False), ("5", " ", False)],
)
async def test_encoding_level_precedence(client: TestClient, world: World, pool: asyncpg.Pool,
                                         existing: str, incoming: str, replaced: bool) -> None:
    first = await load(client, world, bib(own_id="A1", isbn=[ISBN13], level=existing, title="Första"))
    second = await load(client, world, bib(own_id="A2", isbn=[ISBN13_PLAIN], level=incoming, title="Andra"))
    rid = first["records"][0]["record_id"]
    entry = second["records"][0]
    assert entry["record_id"] == rid
    assert entry["outcome"] == ("updated" if replaced else "matched")
    row = await stored(pool, rid)
    assert ("Andra" in row["marcxml"]) is replaced
    assert row["encoding_level"] == (incoming if replaced else existing)


async def test_protected_record_is_never_replaced(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    first = await load(client, world, bib(own_id="P1", isbn=[ISBN13], level="5", title="Original"))
    rid = first["records"][0]["record_id"]
    async with pool.acquire() as conn:
        await conn.execute("UPDATE bib_records SET protected = true WHERE id = $1", int(rid))
    second = await load(client, world, bib(own_id="P2", isbn=[ISBN13], level="5", title="Ersättning"))
    assert second["records"][0]["outcome"] == "matched"
    assert "Original" in (await stored(pool, rid))["marcxml"]


async def test_identifier_order_isbn_decides_before_sysno(client: TestClient, world: World) -> None:
    a = await load(client, world, bib(own_id="X1", isbn=["9789127108509"], title="A"))
    b = await load(client, world, bib(own_id="X2", isbn=[ISBN13], sysno=("(BOKR)shared",), title="B"))
    c = await load(client, world, bib(own_id="X3", isbn=["91-27-10850-3"], sysno=("(BOKR)shared",), title="C"))
    assert c["records"][0]["record_id"] == a["records"][0]["record_id"]
    assert c["records"][0]["record_id"] != b["records"][0]["record_id"]


async def test_issn_ean_and_system_number_tiers(client: TestClient, world: World) -> None:
    s1 = await load(client, world, bib(own_id="S1", issn=("2049-3630",), title="Tidskrift"))
    s2 = await load(client, world, bib(own_id="S2", issn=("20493630",), title="Tidskrift"))
    assert s2["records"][0]["record_id"] == s1["records"][0]["record_id"]
    e1 = await load(client, world, bib(own_id="E1", ean=("5051895056684",), title="Film"))
    e2 = await load(client, world, bib(own_id="E2", ean=("5051895056684",), title="Film"))
    assert e2["records"][0]["record_id"] == e1["records"][0]["record_id"]
    n1 = await load(client, world, bib(own_id="N1", sysno=("(BOKR)12345",), title="Nummer"))
    n2 = await load(client, world, bib(own_id="N2", sysno=("(BOKR) 12345",), title="Nummer"))
    assert n2["records"][0]["record_id"] == n1["records"][0]["record_id"]
    # the supplier's own 001 without 003 is its system number
    o1 = await load(client, world, bib(own_id="OWN-1", title="Egen"))
    o2 = await load(client, world, bib(own_id="OWN-1", title="Egen igen"))
    assert o2["records"][0]["record_id"] == o1["records"][0]["record_id"]


async def test_bad_check_digit_warns_and_is_not_used(client: TestClient, world: World) -> None:
    good = await load(client, world, bib(own_id="G1", isbn=["9781845332136"], title="Rätt"))
    bad = await load(client, world, bib(own_id="G2", isbn=["9781845332137", "978184533213X"], sysno=("(X)2",),
                                        title="Fel"))
    entry = bad["records"][0]
    assert entry["outcome"] == "created"
    assert entry["record_id"] != good["records"][0]["record_id"]
    codes = [w["code"] for w in entry["warnings"]]
    assert "ISBN_CHECK_DIGIT" in codes  # 9781845332137: the last digit should be 6
    assert "ISBN_INVALID" in codes  # 978184533213X: an X cannot end an ISBN-13
    assert not any(i.startswith("isbn:") for i in entry["identifiers"])


async def test_record_types_never_merge(client: TestClient, world: World) -> None:
    book = await load(client, world, bib(own_id="T1", isbn=[ISBN13], rtype="a"))
    music = await load(client, world, bib(own_id="T2", isbn=[ISBN13], rtype="j"))
    ebook = await load(client, world, bib(own_id="T3", isbn=[ISBN13], f007="cr |||||||||||"))
    ids = {r["records"][0]["record_id"] for r in (book, music, ebook)}
    assert len(ids) == 3


async def test_ambiguous_match_goes_to_oldest_and_review_queue(client: TestClient, world: World,
                                                               pool: asyncpg.Pool) -> None:
    a = await load(client, world, bib(own_id="M1", isbn=["9789127108509"], title="Äldst", level=" "))
    b = await load(client, world, bib(own_id="M2", isbn=[ISBN13], title="Yngre", level=" "))
    c = await load(client, world, bib(own_id="M3", isbn=["9789127108509", ISBN13], title="Båda"),
                   holding("Sods"))
    entry = c["records"][0]
    oldest = a["records"][0]["record_id"]
    assert entry["record_id"] == oldest
    assert sorted(entry["candidates"]) == sorted([oldest, b["records"][0]["record_id"]])
    assert c["summary"]["ambiguous"] == 1
    assert entry["holdings"][0]["outcome"] == "added"
    resp = await client.get("/admin/review", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    items = (await resp.json())["items"]
    assert [i["record_id"] for i in items] == [oldest]
    assert sorted(items[0]["candidates"]) == sorted(entry["candidates"])


async def test_same_new_book_twice_in_one_delivery_is_one_record(client: TestClient, world: World,
                                                                  pool: asyncpg.Pool) -> None:
    report = await load(client, world, bib(own_id="D1", isbn=[ISBN13]), holding("Sods"),
                        bib(own_id="D2", isbn=["91-502-2231-7"]), holding("Nyks"))
    first, second = report["records"]
    assert first["outcome"] == "created"
    assert second["record_id"] == first["record_id"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bib_records") == 1
        assert await conn.fetchval("SELECT count(*) FROM holdings") == 2


async def test_holdings_update_and_delete_keep_one_per_library(client: TestClient, world: World,
                                                                pool: asyncpg.Pool) -> None:
    r1 = await load(client, world, bib(own_id="H1", isbn=[ISBN13]), holding("Sods", call_number="Hc"))
    r2 = await load(client, world, bib(own_id="H1", isbn=[ISBN13]), holding("Sods", call_number="Hcf"))
    assert r2["records"][0]["holdings"][0]["outcome"] == "updated"
    assert r2["records"][0]["holdings"][0]["holding_id"] == r1["records"][0]["holdings"][0]["holding_id"]
    r3 = await load(client, world, bib(own_id="H1", isbn=[ISBN13]), holding("Sods", status="d"))
    assert r3["records"][0]["holdings"][0]["outcome"] == "deleted"
    assert r3["summary"]["holdings_deleted"] == 1
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, deleted, marcxml FROM holdings")
    assert len(rows) == 1 and rows[0]["deleted"]  # kept as a tombstone for export
    # a second cancellation (a new delivery, not the same body again) finds nothing to delete
    r4 = await load(client, world, bib(own_id="H1", isbn=[ISBN13], title="Igen"), holding("Sods", status="d"))
    assert r4["records"][0]["holdings"][0]["outcome"] == "rejected"
    assert r4["records"][0]["holdings"][0]["errors"][0]["code"] == "HOLDING_DELETE_NOT_FOUND"


async def test_holding_library_rules(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    report = await load(client, world, bib(own_id="L1", isbn=[ISBN13]), holding("Sods"), holding("Other"),
                        holding("Unreg"), holding("Nowhere"), holding(None))
    (entry,) = report["records"]
    assert entry["outcome"] == "created"
    codes = {h["sigel"]: [e["code"] for e in h["errors"]] for h in entry["holdings"]}
    assert codes["Sods"] == []
    assert codes["Other"] == ["HOLDING_NOT_CUSTOMER"]
    assert codes["Unreg"] == ["HOLDING_LIBRARY_UNREGISTERED"]
    assert codes["Nowhere"] == ["HOLDING_UNKNOWN_LIBRARY"]
    assert codes[None] == ["HOLDING_NO_SIGEL"]
    assert report["summary"]["holdings_added"] == 1
    assert report["summary"]["holdings_rejected"] == 4


async def test_holdings_follow_004_within_and_across_deliveries(client: TestClient, world: World,
                                                                 pool: asyncpg.Pool) -> None:
    report = await load(client, world,
                        bib(own_id="B1", isbn=[ISBN13], title="Ett"),
                        bib(own_id="B2", isbn=["9789127108509"], title="Två"),
                        holding("Sods", parent="B1"),   # 004 names an earlier record, not the one before
                        holding("Li", parent="B3"),     # forward reference within the delivery
                        bib(own_id="B3", issn=("2049-3630",), title="Tre"))
    by_title = {r["title"]: r for r in report["records"]}
    assert [h["sigel"] for h in by_title["Ett"]["holdings"]] == ["Sods"]
    assert [h["sigel"] for h in by_title["Tre"]["holdings"]] == ["Li"]
    later = await load(client, world, holding("Nyks", parent="B2"), holding("G", parent="nothing"))
    h_ok, h_bad = later["records"]
    assert h_ok["holdings"][0]["outcome"] == "added"
    assert h_ok["record_id"] == by_title["Två"]["record_id"]
    assert h_bad["holdings"][0]["errors"][0]["code"] == "HOLDING_UNKNOWN_PARENT"


async def test_marc21_linked_holdings_from_marc4j_sample(client: TestClient, world: World,
                                                         pool: asyncpg.Pool) -> None:
    """sample1a.xml: bibliographic records followed by MARC 21 holdings that name them in 004."""
    body = (testdata("marc") / "sample1a.xml").read_bytes()
    status, report = await deliver(client, world.supplier_token, body)
    assert status == 200 and report["status"] == "done", report
    assert report["summary"]["records"] >= 1
    async with pool.acquire() as conn:
        bibs = await conn.fetchval("SELECT count(*) FROM bib_records")
    assert bibs == report["summary"]["created"] + 0
    # every holding is either attached to a record of this delivery or rejected with a reason
    for entry in report["records"]:
        for h in entry["holdings"]:
            assert h["outcome"] in ("added", "rejected")
            if h["outcome"] == "rejected":
                assert h["errors"], h


async def test_bibliographic_record_without_holdings_is_allowed(client: TestClient, world: World) -> None:
    report = await load(client, world, bib(own_id="NH", isbn=[ISBN13]))
    (entry,) = report["records"]
    assert entry["outcome"] == "created" and entry["holdings"] == []
    assert report["summary"]["holdings_added"] == 0
