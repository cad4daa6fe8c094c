"""Matching cases the rules imply that the other intake tests leave out.

Every case goes through the real HTTP path into the test PostgreSQL and checks both the report
and the stored rows. (test_matching_rules.py and test_libris_fixtures.py cover the basic tiers,
the precedence table's main cells, one ambiguous match and holdings update/delete.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.intake.helpers import ADMIN_TOKEN, World, deliver
from tests.intake.marcxml import bib, collection, holding

E_007 = "cr |||||||||||"  # 007/00 'c': electronic resource


async def load(client: TestClient, token: str, *records: str) -> dict[str, Any]:
    status, report = await deliver(client, token, collection(*records))
    assert status == 200, report
    assert report["status"] == "done", report
    return report


def only(report: dict[str, Any]) -> dict[str, Any]:
    (entry,) = report["records"]
    return entry


def f020(*subfields: tuple[str, str]) -> str:
    subs = "".join(f'<subfield code="{c}">{escape(v)}</subfield>' for c, v in subfields)
    return f'<datafield tag="020" ind1=" " ind2=" ">{subs}</datafield>'


async def fetch(pool: asyncpg.Pool, sql: str, *args: object) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(await conn.fetch(sql, *args))


async def identifiers_of(pool: asyncpg.Pool, record_id: str) -> set[str]:
    rows = await fetch(pool, "SELECT kind, value FROM bib_identifiers WHERE bib_id = $1", int(record_id))
    return {f"{r['kind']}:{r['value']}" for r in rows}


async def bib_count(pool: asyncpg.Pool) -> int:
    return len(await fetch(pool, "SELECT id FROM bib_records"))


# --- ISBN forms ------------------------------------------------------------------------------
async def test_isbn10_with_x_check_digit_meets_its_13_form(client: TestClient, world: World,
                                                           pool: asyncpg.Pool) -> None:
    first = only(await load(client, world.supplier_token,
                            bib(own_id="X10", isbn=["1-84533-213-x (hbk.)"], title="Tio"), holding("Sods")))
    second = only(await load(client, world.supplier_token,
                             bib(own_id="X13", isbn=["978-1-84533-213-6"], title="Tretton"), holding("Nyks")))
    assert first["outcome"] == "created"
    assert "isbn:9781845332136" in first["identifiers"]
    assert not any(w["code"].startswith("ISBN") for w in first["warnings"])
    assert second["record_id"] == first["record_id"]
    assert second["outcome"] in ("matched", "updated")
    assert await bib_count(pool) == 1
    rows = await fetch(pool, "SELECT sigel FROM holdings WHERE bib_id = $1 ORDER BY sigel", int(first["record_id"]))
    assert [r["sigel"] for r in rows] == ["Nyks", "Sods"]


async def test_979_isbn_never_meets_the_978_isbn_with_the_same_nine_digits(client: TestClient, world: World,
                                                                          pool: asyncpg.Pool) -> None:
    # 979-10-323-0569-0 and 978-1-03230-569-1 (= ISBN-10 103230569X) share "103230569"
    r979 = only(await load(client, world.supplier_token, bib(own_id="N979", isbn=["979-10-323-0569-0"])))
    r10 = only(await load(client, world.supplier_token, bib(own_id="N10", isbn=["103230569X"])))
    r978 = only(await load(client, world.supplier_token, bib(own_id="N978", isbn=["9781032305691"])))
    assert r979["outcome"] == "created" and r10["outcome"] == "created"
    assert r979["record_id"] != r10["record_id"]
    assert r978["record_id"] == r10["record_id"]
    assert "isbn:9791032305690" in r979["identifiers"]
    assert "isbn:9781032305691" in r10["identifiers"]
    assert await identifiers_of(pool, r979["record_id"]) >= {"isbn:9791032305690"}
    assert not any(i.startswith("isbn:978") for i in await identifiers_of(pool, r979["record_id"]))
    assert await bib_count(pool) == 2


async def test_qualifiers_and_q_are_removed_and_z_matches(client: TestClient, world: World,
                                                          pool: asyncpg.Pool) -> None:
    first = only(await load(client, world.supplier_token, bib(
        own_id="Q1", title="Kvalificerad",
        extra=f020(("a", "978-91-502-2231-9 (inb.)"), ("q", "inbunden"), ("c", "199:-")))))
    assert first["identifiers"][:1] == ["isbn:9789150222319"]
    assert not any(w["code"].startswith("ISBN") for w in first["warnings"])
    # another record whose $a is new and whose $z (cancelled ISBN) is the first one's ISBN, spaced
    second = only(await load(client, world.supplier_token, bib(
        own_id="Q2", title="Via z", level=" ",
        extra=f020(("a", "9789127108509"), ("z", "978 91 502 2231 9 : hft.")))))
    assert second["record_id"] == first["record_id"]
    assert second["outcome"] == "matched"  # a full-level (blank) incoming record replaces nothing
    assert {"isbn:9789150222319", "isbn:9789127108509"} <= set(second["identifiers"])
    assert await bib_count(pool) == 1


async def test_unicode_hyphens_and_spaces_in_isbns_are_removed(client: TestClient, world: World,
                                                                pool: asyncpg.Pool) -> None:
    """Word processors and web forms turn hyphens into U+2010/U+2011/en dashes and spaces into
    no-break spaces; they separate the digits as an ASCII hyphen does."""
    forms = ["978\u201091\u2010502\u20102231\u20109", "91\u2013502\u20132231\u20137 (inb.)",
             "978\u00a091\u00a0502\u00a02231\u00a09", "978\u201191\u2011502\u20112231\u20119",
             "978\u221291\u2212502\u22122231\u22129"]
    entries = [only(await load(client, world.supplier_token, bib(own_id=f"U{n}", isbn=[form], title=f"Form {n}")))
               for n, form in enumerate(forms)]
    for entry in entries:
        assert "isbn:9789150222319" in entry["identifiers"], entry
        assert not any(w["code"].startswith("ISBN") for w in entry["warnings"]), entry
    assert {e["record_id"] for e in entries} == {entries[0]["record_id"]}
    assert await bib_count(pool) == 1


async def test_bad_check_digit_isbn_is_skipped_and_the_issn_decides(client: TestClient, world: World,
                                                                     pool: asyncpg.Pool) -> None:
    # the bad ISBN differs from the good one only in its check digit: used, it would find that record
    by_isbn = only(await load(client, world.supplier_token, bib(own_id="C1", isbn=["9781845332136"], title="Bok")))
    by_issn = only(await load(client, world.supplier_token,
                              bib(own_id="C2", issn=("2049-3630",), title="Tidskrift")))
    entry = only(await load(client, world.supplier_token,
                            bib(own_id="C3", isbn=["978-1-84533-213-7"], issn=("2049-3630",), title="Fel ISBN")))
    assert [w["code"] for w in entry["warnings"] if w["code"].startswith("ISBN")] == ["ISBN_CHECK_DIGIT"]
    assert entry["record_id"] == by_issn["record_id"] != by_isbn["record_id"]
    assert entry["candidates"] in ([], [by_issn["record_id"]])
    assert not any(i.startswith("isbn:") for i in entry["identifiers"])
    # the rejected ISBN is not stored as an identifier of the record it went to
    assert not any(i.startswith("isbn:") for i in await identifiers_of(pool, by_issn["record_id"]))


async def test_bad_check_digit_isbn_alone_creates(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    good = only(await load(client, world.supplier_token, bib(own_id="K1", isbn=["9789150222319"])))
    bad = only(await load(client, world.supplier_token, bib(own_id="K2", isbn=["91-502-2231-8"])))
    assert bad["outcome"] == "created" and bad["record_id"] != good["record_id"]
    assert [w["code"] for w in bad["warnings"] if w["code"].startswith("ISBN")] == ["ISBN_CHECK_DIGIT"]
    assert not any(i.startswith("isbn:") for i in await identifiers_of(pool, bad["record_id"]))


async def test_bookland_ean_in_024_meets_the_020_isbn(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    book = only(await load(client, world.supplier_token, bib(own_id="B1", isbn=["91-502-2231-7"])))
    ean = only(await load(client, world.supplier_token, bib(own_id="B2", ean=("9789150222319",), level=" ")))
    assert ean["record_id"] == book["record_id"]
    assert ean["outcome"] == "matched"
    assert "ean:9789150222319" in await identifiers_of(pool, book["record_id"])


async def test_issn_in_z_and_lower_case_check_digit_match(client: TestClient, world: World,
                                                          pool: asyncpg.Pool) -> None:
    first = only(await load(client, world.supplier_token, bib(own_id="I1", issn=("2434-561X",), title="Årsbok")))
    extra = ('<datafield tag="022" ind1=" " ind2=" "><subfield code="a">0317-8471</subfield>'
             '<subfield code="z">2434 561x</subfield></datafield>')
    second = only(await load(client, world.supplier_token, bib(own_id="I2", title="Årsbok", extra=extra)))
    assert second["record_id"] == first["record_id"]
    assert {"issn:2434-561X", "issn:0317-8471"} <= await identifiers_of(pool, first["record_id"])


# --- identifier order ------------------------------------------------------------------------
async def test_isbn_without_candidates_falls_through_to_issn(client: TestClient, world: World,
                                                             pool: asyncpg.Pool) -> None:
    serial = only(await load(client, world.supplier_token, bib(own_id="S1", issn=("2049-3630",), title="Serie")))
    entry = only(await load(client, world.supplier_token,
                            bib(own_id="S2", isbn=["9789127108509"], issn=("20493630",), title="Del")))
    assert entry["record_id"] == serial["record_id"]
    assert entry["outcome"] in ("matched", "updated")
    # the ISBN it brought now finds that record too (identifiers accumulate)
    third = only(await load(client, world.supplier_token, bib(own_id="S3", isbn=["91-27-10850-3"], title="Del")))
    assert third["record_id"] == serial["record_id"]
    assert await bib_count(pool) == 1


async def test_isbn_that_only_finds_another_carrier_does_not_decide(client: TestClient, world: World,
                                                                    pool: asyncpg.Pool) -> None:
    """docs/intake.md and gateway/intake/matching.py: only records of the same match class are candidates,
    so an ISBN that finds only the print edition has found no candidates and the ISSN decides."""
    printed = only(await load(client, world.supplier_token, bib(own_id="P", isbn=["9789150222319"], title="Tryck")))
    online = only(await load(client, world.supplier_token,
                             bib(own_id="E1", issn=("2049-3630",), f007=E_007, title="Online")))
    entry = only(await load(client, world.supplier_token,
                            bib(own_id="E2", isbn=["9789150222319"], issn=("2049-3630",), f007=E_007,
                                title="Online igen")))
    assert entry["record_id"] == online["record_id"]
    assert entry["record_id"] != printed["record_id"]
    classes = {r["id"]: r["match_class"] for r in await fetch(pool, "SELECT id, match_class FROM bib_records")}
    assert classes == {int(printed["record_id"]): "a:print", int(online["record_id"]): "a:electronic"}


async def test_electronic_record_with_only_the_print_isbn_is_created(client: TestClient, world: World,
                                                                     pool: asyncpg.Pool) -> None:
    printed = only(await load(client, world.supplier_token, bib(own_id="PR", isbn=["9789150222319"])))
    online = only(await load(client, world.supplier_token, bib(own_id="EL", isbn=["9789150222319"], f007=E_007)))
    assert online["outcome"] == "created" and online["record_id"] != printed["record_id"]
    assert online["candidates"] == []
    # and the printed edition's record was left alone
    row = (await fetch(pool, "SELECT encoding_level, match_class FROM bib_records WHERE id = $1",
                       int(printed["record_id"])))[0]
    assert row["match_class"] == "a:print"


async def test_sound_recording_and_book_with_the_same_ean_never_merge(client: TestClient, world: World,
                                                                      pool: asyncpg.Pool) -> None:
    book = only(await load(client, world.supplier_token, bib(own_id="EB", ean=("5051895056684",), title="Bok")))
    music = only(await load(client, world.supplier_token,
                            bib(own_id="EJ", ean=("5051895056684",), rtype="j", title="Skiva")))
    music2 = only(await load(client, world.supplier_token,
                             bib(own_id="EJ2", ean=("5051895056684",), rtype="j", title="Skiva igen")))
    assert music["outcome"] == "created" and music["record_id"] != book["record_id"]
    assert music2["record_id"] == music["record_id"]
    rows = await fetch(pool, "SELECT match_class FROM bib_records ORDER BY id")
    assert [r["match_class"] for r in rows] == ["a:print", "j:print"]


# --- several candidates ------------------------------------------------------------------------
async def test_ambiguous_within_one_delivery_goes_to_the_first_created(client: TestClient, world: World,
                                                                       pool: asyncpg.Pool) -> None:
    body = collection(bib(own_id="A1", isbn=["9789127108509"], title="Först"),
                      bib(own_id="A2", isbn=["9789150222319"], title="Sedan"),
                      bib(own_id="A3", isbn=["9789127108509", "9789150222319"], title="Båda"), holding("Sods"))
    status, report = await deliver(client, world.supplier_token, body)
    assert status == 200 and report["status"] == "done", report
    a1, a2, a3 = report["records"]
    assert a1["outcome"] == a2["outcome"] == "created"
    assert int(a1["record_id"]) < int(a2["record_id"])
    assert a3["record_id"] == a1["record_id"]
    assert a3["outcome"] == "ambiguous"
    assert a3["attached_as"] == "updated"  # level 8 over level 8: ambiguous, and still replaced
    assert sorted(a3["candidates"]) == sorted([a1["record_id"], a2["record_id"]])
    assert a3["candidate_records"] == [{"record_id": a1["record_id"], "title": "Båda"},
                                       {"record_id": a2["record_id"], "title": "Sedan"}]
    assert report["summary"]["ambiguous"] == 1
    assert report["summary"]["created"] == 2 and report["summary"]["updated"] == 0
    assert a3["holdings"][0]["outcome"] == "added"
    holdings = await fetch(pool, "SELECT bib_id FROM holdings")
    assert [h["bib_id"] for h in holdings] == [int(a1["record_id"])]
    xml = (await fetch(pool, "SELECT marcxml FROM bib_records WHERE id = $1", int(a1["record_id"])))[0]["marcxml"]
    assert "Båda" in xml

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    items = (await (await client.get("/admin/review", headers=admin)).json())["items"]
    assert [(i["record_id"], sorted(i["candidates"]), i["position"]) for i in items] == [
        (a1["record_id"], sorted(a3["candidates"]), a3["position"])]
    # posting the same body again returns the same delivery and queues nothing more
    status, again = await deliver(client, world.supplier_token, body)
    assert status == 200 and again["id"] == report["id"]
    items = (await (await client.get("/admin/review", headers=admin)).json())["items"]
    assert len(items) == 1
    assert len(await fetch(pool, "SELECT id FROM review_items")) == 1


async def test_one_candidate_is_not_ambiguous(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    """Several identifiers of one tier that all find the same record: one candidate, no review."""
    first = only(await load(client, world.supplier_token, bib(own_id="O1", isbn=["9789127108509", "9789150222319"])))
    second = only(await load(client, world.supplier_token, bib(own_id="O2", isbn=["91-27-10850-3", "9150222317"])))
    assert second["record_id"] == first["record_id"]
    assert second["candidates"] in ([], [first["record_id"]])
    assert len(await fetch(pool, "SELECT id FROM review_items")) == 0


# --- encoding-level precedence -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("existing", "incoming", "replaced"),
    [("8", "3", True), ("5", "7", True), ("8", "8", True), ("2", "8", False), ("2", "5", False),
     ("5", "1", False), ("5", "2", False), ("5", "4", False), ("3", "3", False), ("3", "5", False),
     ("7", "8", False), ("1", "7", False), (" ", "3", False)],
)
async def test_precedence_cells_not_covered_elsewhere(client: TestClient, world: World, pool: asyncpg.Pool,
                                                      existing: str, incoming: str, replaced: bool) -> None:
    first = only(await load(client, world.supplier_token, bib(own_id="L1", isbn=["9789150222319"], level=existing,
                                                              title="Gammal")))
    second = only(await load(client, world.supplier_token, bib(own_id="L2", isbn=["9150222317"], level=incoming,
                                                               title="Ny")))
    assert second["record_id"] == first["record_id"]
    assert second["outcome"] == ("updated" if replaced else "matched")
    row = (await fetch(pool, "SELECT encoding_level, marcxml FROM bib_records WHERE id = $1",
                       int(first["record_id"])))[0]
    assert row["encoding_level"] == (incoming if replaced else existing)
    assert ("Ny" in row["marcxml"]) is replaced
    leader = row["marcxml"].split("<leader>", 1)[1][:24]
    assert leader[17] == row["encoding_level"]


async def test_precedence_applies_record_by_record_within_one_delivery(client: TestClient, world: World,
                                                                       pool: asyncpg.Pool) -> None:
    stored = only(await load(client, world.supplier_token, bib(own_id="W0", isbn=["9789150222319"], level="5",
                                                               title="Femma")))
    # an 8 replaces the 5; the 5 after it meets an 8 now and may not; the 3 after that may
    report = await load(client, world.supplier_token,
                        bib(own_id="W1", isbn=["9789150222319"], level="8", title="Åtta"),
                        bib(own_id="W2", isbn=["9789150222319"], level="5", title="Fem igen"),
                        bib(own_id="W3", isbn=["9789150222319"], level="3", title="Trea"))
    assert [r["outcome"] for r in report["records"]] == ["updated", "matched", "updated"]
    assert {r["record_id"] for r in report["records"]} == {stored["record_id"]}
    row = (await fetch(pool, "SELECT encoding_level, marcxml FROM bib_records"))[0]
    assert row["encoding_level"] == "3" and "Trea" in row["marcxml"]
    # and nothing may replace the 3 now
    later = only(await load(client, world.supplier_token, bib(own_id="W4", isbn=["9789150222319"], level="8",
                                                              title="Åtta igen")))
    assert later["outcome"] == "matched"


async def test_protected_record_keeps_every_level_out(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    """'Upgraded by a cataloguer' is bib_records.protected (migration 0001); no level replaces it."""
    first = only(await load(client, world.supplier_token, bib(own_id="U0", isbn=["9789150222319"], level="8",
                                                              title="Uppgraderad")))
    async with pool.acquire() as conn:
        await conn.execute("UPDATE bib_records SET protected = true WHERE id = $1", int(first["record_id"]))
    report = await load(client, world.supplier_token,
                        *(bib(own_id=f"U{n}", isbn=["9789150222319"], level=lvl, title=f"Försök {n}")
                          for n, lvl in enumerate("8375", 1)))
    assert [r["outcome"] for r in report["records"]] == ["matched"] * 4
    row = (await fetch(pool, "SELECT encoding_level, marcxml, protected FROM bib_records"))[0]
    assert row["protected"] and row["encoding_level"] == "8" and "Uppgraderad" in row["marcxml"]


# --- holdings -----------------------------------------------------------------------------------
async def test_delete_for_a_holding_that_never_existed(client: TestClient, world: World,
                                                       pool: asyncpg.Pool) -> None:
    report = await load(client, world.supplier_token, bib(own_id="HD", isbn=["9789150222319"]),
                        holding("Sods", status="d"))
    entry = only(report)
    assert entry["outcome"] == "created"
    (h,) = entry["holdings"]
    assert h["outcome"] == "rejected" and [e["code"] for e in h["errors"]] == ["HOLDING_DELETE_NOT_FOUND"]
    assert report["summary"]["holdings_rejected"] == 1 and report["summary"]["holdings_deleted"] == 0
    assert await fetch(pool, "SELECT id FROM holdings") == []


async def test_two_holdings_of_one_library_in_one_delivery_make_one(client: TestClient, world: World,
                                                                    pool: asyncpg.Pool) -> None:
    report = await load(client, world.supplier_token, bib(own_id="HH", isbn=["9789150222319"]),
                        holding("Sods", call_number="Hc"), holding("Sods", call_number="Hcf"))
    first, second = only(report)["holdings"]
    assert (first["outcome"], second["outcome"]) == ("added", "updated")
    assert first["holding_id"] == second["holding_id"]
    rows = await fetch(pool, "SELECT id, marcxml, deleted FROM holdings")
    assert len(rows) == 1 and not rows[0]["deleted"]
    assert "Hcf" in rows[0]["marcxml"]


async def test_holdings_of_two_records_that_meet_make_one_per_library(client: TestClient, world: World,
                                                                       pool: asyncpg.Pool) -> None:
    report = await load(client, world.supplier_token,
                        bib(own_id="M1", isbn=["9789150222319"]), holding("Sods", call_number="Hc"),
                        bib(own_id="M2", isbn=["91-502-2231-7"]), holding("Sods", call_number="Hcg"),
                        holding("Li"))
    one, two = report["records"]
    assert one["record_id"] == two["record_id"]
    assert [h["outcome"] for h in one["holdings"] + two["holdings"]] == ["added", "updated", "added"]
    rows = await fetch(pool, "SELECT sigel, marcxml FROM holdings ORDER BY sigel")
    assert [r["sigel"] for r in rows] == ["Li", "Sods"]
    assert "Hcg" in rows[1]["marcxml"]


async def test_add_then_delete_in_one_delivery_leaves_a_tombstone(client: TestClient, world: World,
                                                                  pool: asyncpg.Pool) -> None:
    report = await load(client, world.supplier_token, bib(own_id="AD", isbn=["9789150222319"]),
                        holding("Sods"), holding("Sods", status="d"))
    assert [h["outcome"] for h in only(report)["holdings"]] == ["added", "deleted"]
    rows = await fetch(pool, "SELECT deleted FROM holdings")
    assert [r["deleted"] for r in rows] == [True]


async def test_a_deleted_holding_is_revived_by_a_new_one(client: TestClient, world: World,
                                                         pool: asyncpg.Pool) -> None:
    r1 = only(await load(client, world.supplier_token, bib(own_id="RV", isbn=["9789150222319"]), holding("Sods")))
    r2 = only(await load(client, world.supplier_token, bib(own_id="RV", isbn=["9789150222319"], title="x"),
                         holding("Sods", status="d")))
    r3 = only(await load(client, world.supplier_token, bib(own_id="RV", isbn=["9789150222319"], title="y"),
                         holding("Sods", call_number="Ny")))
    assert [r["holdings"][0]["outcome"] for r in (r1, r2, r3)] == ["added", "deleted", "added"]
    assert len({r["holdings"][0]["holding_id"] for r in (r1, r2, r3)}) == 1
    rows = await fetch(pool, "SELECT deleted, marcxml FROM holdings")
    assert len(rows) == 1 and not rows[0]["deleted"] and "Ny" in rows[0]["marcxml"]


# --- one delivery, the same new book -----------------------------------------------------------
async def test_same_new_isbn_in_two_batches_of_one_delivery(client: TestClient, world: World,
                                                            pool: asyncpg.Pool) -> None:
    """The test app writes batches of 50: the second copy is read while the first is being written."""
    filler = [bib(own_id=f"F{n}", title=f"Fyll {n}") for n in range(60)]
    report = await load(client, world.supplier_token,
                        bib(own_id="FIRST", isbn=["9789150222319"]), holding("Sods"),
                        *filler,
                        bib(own_id="LAST", isbn=["91-502-2231-7"]), holding("Nyks"))
    first, last = report["records"][0], report["records"][-1]
    assert first["outcome"] == "created" and last["record_id"] == first["record_id"]
    assert last["outcome"] in ("matched", "updated") and last["candidates"] in ([], [first["record_id"]])
    rows = await fetch(pool, "SELECT sigel FROM holdings WHERE bib_id = $1 ORDER BY sigel", int(first["record_id"]))
    assert [r["sigel"] for r in rows] == ["Nyks", "Sods"]
    assert await bib_count(pool) == 61


async def test_print_and_electronic_with_the_same_new_isbn_in_one_delivery(client: TestClient, world: World,
                                                                           pool: asyncpg.Pool) -> None:
    report = await load(client, world.supplier_token,
                        bib(own_id="NP", isbn=["9789150222319"]), holding("Sods"),
                        bib(own_id="NE", isbn=["9789150222319"], f007=E_007), holding("Sods"))
    printed, online = report["records"]
    assert printed["outcome"] == online["outcome"] == "created"
    assert printed["record_id"] != online["record_id"]
    assert [h["outcome"] for h in printed["holdings"] + online["holdings"]] == ["added", "added"]
    assert len(await fetch(pool, "SELECT id FROM holdings")) == 2


# --- system numbers -----------------------------------------------------------------------------
async def test_001_003_meets_the_same_number_sent_as_035(client: TestClient, world: World,
                                                         pool: asyncpg.Pool) -> None:
    first = only(await load(client, world.supplier_token, bib(own_id="123", org="SUPX", title="Nummer")))
    assert "sysno:(SUPX)123" in first["identifiers"]
    second = only(await load(client, world.supplier_token, bib(sysno=("(SUPX) 123",), title="Nummer igen")))
    assert second["record_id"] == first["record_id"]
    xml = (await fetch(pool, "SELECT marcxml FROM bib_records WHERE id = $1", int(first["record_id"])))[0]["marcxml"]
    assert "(SUPX)" in xml


async def test_001_without_003_does_not_meet_across_suppliers(client: TestClient, world: World,
                                                             pool: asyncpg.Pool) -> None:
    ours = only(await load(client, world.supplier_token, bib(own_id="777", title="Vår")))
    theirs = only(await load(client, world.other_token, bib(own_id="777", title="Deras")))
    assert theirs["outcome"] == "created" and theirs["record_id"] != ours["record_id"]
    assert "sysno:(BOKR)777" in ours["identifiers"] and "sysno:(ADLIB)777" in theirs["identifiers"]
    # each supplier's own redelivery still finds its own record
    ours2 = only(await load(client, world.supplier_token, bib(own_id="777", title="Vår igen")))
    theirs2 = only(await load(client, world.other_token, bib(own_id="777", title="Deras igen")))
    assert ours2["record_id"] == ours["record_id"] and theirs2["record_id"] == theirs["record_id"]
    assert await bib_count(pool) == 2


async def test_001_with_003_is_one_number_whoever_sends_it(client: TestClient, world: World,
                                                           pool: asyncpg.Pool) -> None:
    """With 003 the number is qualified by its organisation, not by the supplier."""
    ours = only(await load(client, world.supplier_token, bib(own_id="888", org="SE-LIBR")))
    theirs = only(await load(client, world.other_token, bib(own_id="888", org="SE-LIBR")))
    assert theirs["record_id"] == ours["record_id"]
    suppliers = await fetch(pool, "SELECT supplier_id FROM bib_suppliers WHERE bib_id = $1", int(ours["record_id"]))
    assert len(suppliers) == 2


async def test_001_with_inner_whitespace_meets_its_035(client: TestClient, world: World,
                                                       pool: asyncpg.Pool) -> None:
    """035 values are whitespace-normalised; the (003)001 built from 001 and 003 must be too, or the
    same system number sent the two ways never meets."""
    first = only(await load(client, world.supplier_token, bib(own_id="AB  12", org="SUPX", title="Mellanrum")))
    second = only(await load(client, world.supplier_token, bib(sysno=("(SUPX)AB  12",), title="Mellanrum igen")))
    assert second["record_id"] == first["record_id"]
    # and a bare 001 (qualified with the supplier) likewise
    third = only(await load(client, world.supplier_token, bib(own_id="CD  34", title="Utan 003")))
    fourth = only(await load(client, world.supplier_token, bib(sysno=("(BOKR)CD 34",), title="Som 035")))
    assert fourth["record_id"] == third["record_id"]


async def test_same_001_under_another_003_is_another_number(client: TestClient, world: World,
                                                            pool: asyncpg.Pool) -> None:
    """With 003 the system number is (003)001: one supplier forwarding records of two organisations
    whose 001s happen to be equal does not merge them (and one does not replace the other)."""
    libris = only(await load(client, world.supplier_token, bib(own_id="5", org="SE-LIBR", title="Libris post")))
    other = only(await load(client, world.supplier_token, bib(own_id="5", org="OTHER", title="Annan post")))
    assert other["outcome"] == "created" and other["record_id"] != libris["record_id"]
    xml = (await fetch(pool, "SELECT marcxml FROM bib_records WHERE id = $1", int(libris["record_id"])))[0]["marcxml"]
    assert "Libris post" in xml
    # a bare 001 is qualified by the supplier: the same number as 003 = the supplier's code
    bare = only(await load(client, world.supplier_token, bib(own_id="6", title="Utan 003")))
    coded = only(await load(client, world.supplier_token, bib(own_id="6", org="BOKR", title="Med 003")))
    assert coded["record_id"] == bare["record_id"]
    # and holdings still find each record by the supplier's 001 in a later delivery
    later = await load(client, world.supplier_token, holding("Sods", parent="6"))
    assert only(later)["record_id"] == bare["record_id"]


async def test_004_finds_the_record_a_bib_of_this_supplier_was_matched_into(client: TestClient, world: World,
                                                                           pool: asyncpg.Pool) -> None:
    """A later delivery's holding names the supplier's 001 of a record that was not created from it
    but matched into another supplier's record: the holding goes to that record."""
    theirs = only(await load(client, world.other_token, bib(own_id="A-1", isbn=["9789150222319"], level=" ")))
    ours = only(await load(client, world.supplier_token, bib(own_id="B-1", isbn=["91-502-2231-7"])))
    assert ours["outcome"] == "matched" and ours["record_id"] == theirs["record_id"]
    later = only(await load(client, world.supplier_token, holding("Li", parent="B-1")))
    assert later["record_id"] == theirs["record_id"]
    assert later["holdings"][0]["outcome"] == "added"
    rows = await fetch(pool, "SELECT bib_id, sigel FROM holdings")
    assert [(r["bib_id"], r["sigel"]) for r in rows] == [(int(theirs["record_id"]), "Li")]


async def test_the_same_ambiguous_match_is_queued_once_while_open(client: TestClient, world: World,
                                                                  pool: asyncpg.Pool) -> None:
    """Redelivered (as another delivery) or sent by another supplier, the same record meeting the
    same candidates is reported ambiguous each time, but queued for review once while the item is
    open; after it is resolved, the next delivery queues it again."""
    await load(client, world.supplier_token, bib(own_id="A1", isbn=["9789127108509"], title="Först"),
               bib(own_id="A2", isbn=["9789150222319"], title="Sedan"))
    both = bib(own_id="A3", isbn=["9789127108509", "9789150222319"], title="Båda")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    reports = [await load(client, world.supplier_token, both, holding("Sods")),
               await load(client, world.supplier_token, both.replace("Båda", "Båda igen"), holding("Li")),
               await load(client, world.other_token, bib(own_id="X9", isbn=["9789150222319", "9789127108509"]))]
    for r in reports:
        assert r["summary"]["ambiguous"] == 1, r["summary"]
        assert len(only(r)["candidates"]) == 2
    items = (await (await client.get("/admin/review", headers=admin)).json())["items"]
    assert len(items) == 1 and items[0]["delivery_id"] == reports[0]["id"]
    resp = await client.post(f"/admin/review/{items[0]['id']}/resolve", headers=admin)
    assert resp.status == 200, await resp.text()
    again = await load(client, world.supplier_token, both.replace("Båda", "Båda en tredje gång"))
    items = (await (await client.get("/admin/review", headers=admin)).json())["items"]
    assert [i["delivery_id"] for i in items] == [again["id"]]
    assert len(await fetch(pool, "SELECT id FROM review_items")) == 2


async def test_a_barcode_sent_as_12_13_or_14_digits_is_one_record(client: TestClient, world: World,
                                                                  pool: asyncpg.Pool) -> None:
    first = only(await load(client, world.supplier_token,
                            bib(own_id="U1", ean=("075678164125",), rtype="j", title="Skiva")))
    assert first["outcome"] == "created" and "ean:0075678164125" in first["identifiers"]
    for own_id, form in (("U2", "0075678164125"), ("U3", "00075678164125")):
        again = only(await load(client, world.supplier_token,
                                bib(own_id=own_id, ean=(form,), rtype="j", title="Skiva")))
        assert again["record_id"] == first["record_id"], form
    # another packaging level of the same item (GTIN-14 with indicator digit 1) is another number
    case = only(await load(client, world.supplier_token,
                           bib(own_id="U4", ean=("10075678164122",), rtype="j", title="Kartong")))
    assert case["outcome"] == "created"
    assert await bib_count(pool) == 2


async def test_migration_0009_rewrites_stored_barcodes_into_one_form(client: TestClient, world: World,
                                                                     pool: asyncpg.Pool) -> None:
    """Identifiers stored in another form before 0009 are rewritten by it (and merged where a
    record had the same barcode in two forms); full GTIN-14s stay."""
    record_id = int(only(await load(client, world.supplier_token,
                                    bib(own_id="M1", ean=("0075678164125",), rtype="j")))["record_id"])
    sql = (Path(__file__).parents[2] / "schemas/migrations/0009_ean_one_form.sql").read_text()
    async with pool.acquire() as conn:
        await conn.executemany("INSERT INTO bib_identifiers (kind, value, bib_id) VALUES ('ean', $1, $2)",
                               [("075678164125", record_id), ("96385074", record_id), ("10075678164122", record_id)])
        await conn.execute(sql)
        rows = await conn.fetch("SELECT value FROM bib_identifiers WHERE kind = 'ean' AND bib_id = $1 ORDER BY value",
                                record_id)
    assert [r["value"] for r in rows] == ["0000096385074", "0075678164125", "10075678164122"]
