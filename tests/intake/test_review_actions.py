"""The review queue acts: keep, merge and separate, each over the admin API (real HTTP) and the CLI
(a subprocess), then checked through OAI-PMH (sets, `from`, deletions), SRU and the record's
provenance; protected records and bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from gateway.intake import review
from protocols.marc.writer import to_iso2709
from protocols.marc.xmlreader import read_marcxml
from tests.intake.helpers import World, deliver
from tests.intake.marcxml import bib, collection, holding
from tests.intake.review_world import (
    ADMIN,
    ISBN_A,
    ISBN_B,
    Scene,
    bib_id,
    hold_id,
    live_sigels,
    load,
    oai,
    oai_records,
    record,
    scene,
    sru,
)
from tests.intake.test_registry import forvarv

CHANNELS = ["http", "cli"]


async def resolve(client: TestClient, db_url: str, channel: str, item: int, body: dict[str, Any]) -> dict[str, Any]:
    """Take the action through the admin API or the CLI; what it did."""
    if channel == "http":
        resp = await client.post(f"/admin/review/{item}/resolve", headers=ADMIN, json={**body, "by": "Kim"})
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]
    args = ["review", "resolve", str(item), "--by", "Kim", "--json"]
    if body["action"] == "separate":
        args.append("--separate")
    else:
        args += [f"--{body['action']}", body["record_id"]]
    if body.get("override_protected"):
        args.append("--override-protected")
    rc, out, err = await forvarv(db_url, *args)
    assert rc == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def actor(channel: str) -> str:
    return "admin (Kim)" if channel == "http" else "cli (Kim)"


@pytest.mark.parametrize("channel", CHANNELS)
async def test_keep_moves_the_incoming_holdings_to_the_chosen_candidate(
        client: TestClient, world: World, db_url: str, channel: str) -> None:
    s = await scene(client, world)
    done = await resolve(client, db_url, channel, s.item, {"action": "keep", "record_id": s.b})
    assert done["action"] == "keep" and done["record_id"] == s.b and done["from"] == s.a
    (moved,) = done["holdings"]
    assert moved["sigel"] == "Sods" and moved["from_holding"] == s.sods_holding

    # bib:Sods: the record it left is a deletion there, the kept one is new there; both moved
    assert await oai(client, set="bib:Sods", **{"from": s.since}) == {bib_id(s.a): True, bib_id(s.b): False}
    # hold:Sods: the old holding is deleted, the new one (004 = the kept record) live
    assert await oai(client, set="hold:Sods", **{"from": s.since}) == {
        hold_id(s.sods_holding): True, hold_id(moved["to_holding"]): False}
    records = await oai_records(client, set="hold:Sods", **{"from": s.since})
    marc = "{http://www.loc.gov/MARC21/slim}"
    new = records[hold_id(moved["to_holding"])]
    assert new.findtext(f".//{marc}controlfield[@tag='004']") == s.b
    assert new.findtext(f".//{marc}controlfield[@tag='001']") == moved["to_holding"]
    # the other libraries' sets did not move; the record A is not deleted elsewhere
    assert await oai(client, set="bib:Nyks", **{"from": s.since}) == {}
    assert bib_id(s.a) not in await oai(client, **{"from": s.since})

    assert sorted(await sru(client, "bath.possessingInstitution = Sods")) == [s.b]
    a, b = await record(client, s.a), await record(client, s.b)
    assert live_sigels(a) == ["Nyks"] and live_sigels(b) == ["Li", "Sods"]
    assert [h["deleted"] for h in a["holdings"] if h["sigel"] == "Sods"] == [True]  # the tombstone
    assert "supplier:BOKR:C1" in b["identifiers"] and "supplier:BOKR:C1" not in a["identifiers"]
    event = b["provenance"][-1]
    assert (event["kind"], event["action"], event["actor"]) == ("review", "keep", actor(channel))
    assert event["review_item_id"] == s.item and event["detail"]["delivery_id"] == s.delivery
    assert [p["outcome"] for p in b["provenance"] if p["kind"] == "delivery"] == ["created"]
    assert a["provenance"][-1]["action"] == "holdings_moved_away"

    # the supplier's later holding for C1 (by its 004) finds the kept record
    later = await load(client, world.supplier_token, holding("G", parent="C1"))
    assert later["summary"]["holdings_added"] == 1
    assert "G" in live_sigels(await record(client, s.b))


@pytest.mark.parametrize("channel", CHANNELS)
async def test_merge_makes_one_survivor_and_deletions_everywhere_the_others_were(
        client: TestClient, world: World, db_url: str, pool: asyncpg.Pool, channel: str) -> None:
    s = await scene(client, world)
    done = await resolve(client, db_url, channel, s.item, {"action": "merge", "record_id": s.b})
    assert done["merged"] == [s.a] and done["record_id"] == s.b

    # A was in the plain set, supplier:BOKR, bib:Nyks and bib:Sods: a deletion in each
    for params in ({}, {"set": "supplier:BOKR"}, {"set": "bib:Nyks"}, {"set": "bib:Sods"}):
        got = await oai(client, **params, **{"from": s.since})
        assert got.get(bib_id(s.a)) is True, params
        assert got.get(bib_id(s.b)) is False, params  # the survivor moved too
    assert bib_id(s.a) not in await oai(client, set="bib:Li", **{"from": s.since})
    assert (await oai(client, set="bib:Li", **{"from": s.since})).get(bib_id(s.b)) is False
    held = await oai(client, set="hold:Nyks", **{"from": s.since})
    assert list(held.values()).count(True) == 1 and list(held.values()).count(False) == 1

    # SRU: the merged-away record is gone, the survivor is found by the other's ISBN
    assert await sru(client, f"rec.id = {s.a}") == []
    assert await sru(client, f"bath.isbn = {ISBN_A}") == [s.b]
    assert await sru(client, f"bath.isbn = {ISBN_B}") == [s.b]

    a, b = await record(client, s.a), await record(client, s.b)
    assert a["deleted"] and a["merged_into"] == s.b and live_sigels(a) == [] and a["identifiers"] == []
    assert b["merged_from"] == [s.a] and live_sigels(b) == ["Li", "Nyks", "Sods"]
    assert f"isbn:{ISBN_A}" in b["identifiers"] and "supplier:BOKR:A1" in b["identifiers"]
    deliveries = [(p["record_id"], p["outcome"]) for p in b["provenance"] if p["kind"] == "delivery"]
    assert sorted(deliveries) == sorted([(s.a, "created"), (s.b, "created"), (s.a, "matched")])
    last = b["provenance"][-1]
    assert (last["action"], last["actor"], last["detail"]["merged"]) == ("merge", actor(channel), [s.a])

    # a later delivery carrying A's identifiers meets the survivor, unambiguously
    later = await load(client, world.other_token, bib(own_id="X1", isbn=[ISBN_A], title="Igen"))
    entry = later["records"][0]
    assert (entry["outcome"], entry["record_id"], entry["candidates"]) in (
        ("matched", s.b, [s.b]), ("updated", s.b, [s.b]))
    again = await load(client, world.supplier_token, holding("G", parent="A1"))
    assert again["summary"]["holdings_added"] == 1
    assert "G" in live_sigels(await record(client, s.b))
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM review_items WHERE resolved_at IS NULL") == 0


@pytest.mark.parametrize("channel", CHANNELS)
async def test_separate_makes_a_record_of_the_incoming_one(
        client: TestClient, world: World, db_url: str, channel: str) -> None:
    s = await scene(client, world)
    done = await resolve(client, db_url, channel, s.item, {"action": "separate"})
    new = done["record_id"]
    assert new not in (s.a, s.b) and done["from"] == s.a and done["holdings"][0]["sigel"] == "Sods"

    sods = await oai(client, set="bib:Sods", **{"from": s.since})
    assert sods == {bib_id(s.a): True, bib_id(new): False}
    assert (await oai(client, **{"from": s.since})).get(bib_id(new)) is False
    assert (await oai(client, set="supplier:BOKR", **{"from": s.since})).get(bib_id(new)) is False
    records = await oai_records(client, set="bib:Sods", **{"from": s.since})
    marc = "{http://www.loc.gov/MARC21/slim}"
    stored = records[bib_id(new)]
    assert stored.findtext(f".//{marc}controlfield[@tag='001']") == new
    assert stored.findtext(f".//{marc}datafield[@tag='245']/{marc}subfield[@code='a']") == "Inkommande titel"

    assert await sru(client, "bath.possessingInstitution = Sods") == [new]
    assert new in await sru(client, f"bath.isbn = {ISBN_A}")
    detail = await record(client, new)
    assert live_sigels(detail) == ["Sods"] and detail["created_by"] == "BOKR"
    assert "supplier:BOKR:C1" in detail["identifiers"]
    assert "supplier:BOKR:C1" not in (await record(client, s.a))["identifiers"]
    (event,) = detail["provenance"]
    assert (event["action"], event["actor"], event["detail"]["delivery_id"]) == ("separate", actor(channel),
                                                                                 s.delivery)


async def test_a_protected_record_is_merged_away_only_with_the_override(client: TestClient, world: World,
                                                                        db_url: str) -> None:
    s = await scene(client, world)
    assert (await client.post(f"/admin/records/{s.a}/protect", headers=ADMIN)).status == 200
    resp = await client.post(f"/admin/review/{s.item}/resolve", headers=ADMIN,
                             json={"action": "merge", "record_id": s.b})
    assert resp.status == 409
    body = await resp.json()
    assert body["protected"] == [s.a] and "override_protected" in body["message"]
    rc, _, err = await forvarv(db_url, "review", "resolve", str(s.item), "--merge", s.b)
    assert rc == 1 and "protected" in err and "Traceback" not in err
    assert not (await record(client, s.a))["deleted"]  # nothing happened
    resp = await client.post(f"/admin/review/{s.item}/resolve", headers=ADMIN,
                             json={"action": "merge", "record_id": s.b, "override_protected": True})
    assert resp.status == 200
    assert (await resp.json())["overrode_protection"] == [s.a]
    assert (await record(client, s.a))["merged_into"] == s.b
    # the item is closed now
    resp = await client.post(f"/admin/review/{s.item}/resolve", headers=ADMIN, json={"action": "separate"})
    assert resp.status == 409


async def test_bad_input_gets_a_precise_answer(client: TestClient, world: World, db_url: str) -> None:
    s = await scene(client, world)
    url = f"/admin/review/{s.item}/resolve"

    async def answer(body: Any, status: int, field: str | None = None) -> None:
        resp = await client.post(url, headers=ADMIN, json=body)
        got = await resp.json()
        assert resp.status == status, got
        if field is not None:
            assert got.get("field") == field, got

    await answer({"action": "fold"}, 400, "action")
    await answer({}, 400, "action")
    await answer([], 400)
    await answer({"action": "keep"}, 400, "record_id")
    await answer({"action": "keep", "record_id": "x"}, 400, "record_id")
    await answer({"action": "keep", "record_id": True}, 400, "record_id")
    await answer({"action": "keep", "record_id": "99999999999999999999"}, 400, "record_id")
    await answer({"action": "keep", "record_id": "999999"}, 404, "record_id")
    await answer({"action": "separate", "record_id": s.a}, 400, "record_id")
    await answer({"action": "merge", "record_id": s.b, "records": [s.b]}, 400, "records")
    await answer({"action": "merge", "record_id": s.b, "records": "x"}, 400, "records")
    await answer({"action": "keep", "record_id": s.a, "override_protected": "yes"}, 400, "override_protected")
    await answer({"action": "keep", "record_id": s.a, "by": 3}, 400, "by")
    await answer({"action": "keep", "record_id": s.a, "colour": "red"}, 400, "colour")
    resp = await client.post(url, headers=ADMIN, data=b"{not json", )
    assert resp.status == 400
    # a record that exists but is not a candidate
    other = (await load(client, world.supplier_token, bib(own_id="Z1", isbn=["9789100000002"])))["records"][0]
    await answer({"action": "keep", "record_id": other["record_id"]}, 409, "record_id")
    resp = await client.post("/admin/review/424242/resolve", headers=ADMIN, json={"action": "separate"})
    assert resp.status == 404
    assert (await client.post(url, json={"action": "separate"})).status == 401
    # nothing changed so far; now settle it, and a second action is refused
    await answer({"action": "keep", "record_id": s.a}, 200)
    await answer({"action": "keep", "record_id": s.a}, 409)
    rc, _, err = await forvarv(db_url, "review", "resolve", str(s.item), "--keep", s.b)
    assert rc == 1 and "already resolved" in err and "Traceback" not in err
    rc, _, err = await forvarv(db_url, "review", "resolve", str(s.item), "--keep", s.a, "--separate")
    assert rc == 2  # argparse: one action at a time
    assert (await client.get("/admin/records/999999", headers=ADMIN)).status == 404
    assert (await client.get("/admin/records/x", headers=ADMIN)).status == 400


async def test_item_detail_shows_candidates_and_the_incoming_record(client: TestClient, world: World,
                                                                     db_url: str) -> None:
    s = await scene(client, world)
    resp = await client.get(f"/admin/review/{s.item}", headers=ADMIN)
    assert resp.status == 200
    item = await resp.json()
    assert [c["record_id"] for c in item["candidate_records"]] == sorted([s.a, s.b], key=int)
    assert [c["attached"] for c in item["candidate_records"]] == [True, False]
    assert item["incoming"]["summary"]["title"] == "Inkommande titel"
    assert f"isbn:{ISBN_B}" in item["incoming"]["identifiers"]
    rc, out, err = await forvarv(db_url, "review", "show", str(s.item))
    assert rc == 0 and "Inkommande titel" in out, err
    rc, out, err = await forvarv(db_url, "record", "show", s.a)
    assert rc == 0 and '"provenance"' in out and "marcxml" not in out, err
    assert (await client.get("/admin/review/424242", headers=ADMIN)).status == 404


async def test_keeping_the_attached_record_or_dismissing_changes_nothing(client: TestClient, world: World,
                                                                          db_url: str) -> None:
    s: Scene = await scene(client, world)
    done = await resolve(client, db_url, "http", s.item, {"action": "keep", "record_id": s.a})
    assert done["holdings"] == []
    assert await oai(client, **{"from": s.since}) == {}
    assert (await record(client, s.a))["provenance"][-1]["action"] == "keep"
    listed = (await (await client.get("/admin/review?all=1", headers=ADMIN)).json())["items"]
    assert listed[0]["resolution"]["action"] == "keep" and listed[0]["resolved_by"] == "admin (Kim)"


async def test_a_delivery_loading_during_a_merge_waits_and_meets_the_survivor(
        client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    """The action takes the loader's advisory locks: a batch carrying the merged-away record's ISBN
    waits for the merge to commit, then matches the survivor (never the deleted record)."""
    s = await scene(client, world)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await review.resolve(conn, s.item, "merge", record_id=s.b, actor="test")
            loading = asyncio.create_task(load(client, world.other_token, bib(own_id="W1", isbn=[ISBN_A])))
            await asyncio.sleep(1.0)
            assert not loading.done()  # waiting for the merge's locks
        finally:
            await tx.commit()
    entry = (await loading)["records"][0]
    assert entry["record_id"] == s.b and entry["candidates"] == [s.b]


async def test_separate_reads_an_iso2709_delivery_back(client: TestClient, world: World) -> None:
    """The incoming record is found again in an ISO 2709 payload too, after a bad record before it."""
    first = await load(client, world.supplier_token, bib(own_id="I1", isbn=[ISBN_A], level=" "))
    second = await load(client, world.supplier_token, bib(own_id="I2", isbn=[ISBN_B], level=" "))
    records = [r.record for r in read_marcxml([collection(
        bib(own_id="I0", isbn=["9789100000002"], title="Före"),
        bib(own_id="I3", isbn=[ISBN_A, ISBN_B], title="Från ISO 2709", level="5"), holding("Sods"))])]
    body = b"00012nam  2200000 i 4500\x1e\x1d" + b"".join(to_iso2709(r) for r in records if r is not None)
    status, report = await deliver(client, world.supplier_token, body, content_type="application/marc")
    assert status == 200, report
    entry = next(r for r in report["records"] if r["title"] == "Från ISO 2709")
    assert len(entry["candidates"]) == 2
    (item,) = (await (await client.get("/admin/review", headers=ADMIN)).json())["items"]
    resp = await client.post(f"/admin/review/{item['id']}/resolve", headers=ADMIN, json={"action": "separate"})
    assert resp.status == 200, await resp.text()
    new = (await resp.json())["record_id"]
    assert new not in (first["records"][0]["record_id"], second["records"][0]["record_id"])
    detail = await record(client, new)
    assert detail["summary"]["title"] == "Från ISO 2709" and live_sigels(detail) == ["Sods"]


async def test_merges_chain_and_repoint_the_open_questions(client: TestClient, world: World,
                                                           pool: asyncpg.Pool) -> None:
    """Two open items share a record: merging it away in one makes the other name the survivor
    (closing it if one candidate is left); a later merge carries what was merged before along."""
    isbn_c = "9789100000004"
    ids = []
    for own, isbn, sigel in (("R1", ISBN_A, "Nyks"), ("R2", ISBN_B, "Li"), ("R3", isbn_c, "G")):
        ids.append((await load(client, world.supplier_token, bib(own_id=own, isbn=[isbn], level=" "),
                               holding(sigel)))["records"][0]["record_id"])
    a, b, c = ids
    await load(client, world.supplier_token, bib(own_id="X1", isbn=[ISBN_A, ISBN_B], level="5"), holding("Sods"))
    await load(client, world.other_token, bib(own_id="X2", isbn=[ISBN_B, isbn_c], level="5"))
    items = (await (await client.get("/admin/review", headers=ADMIN)).json())["items"]
    first, second = sorted(items, key=lambda i: i["id"])
    assert (first["record_id"], second["record_id"]) == (a, a)  # X1 gave a ISBN_B too
    assert sorted(second["candidates"], key=int) == [a, b, c]

    # first: b is the same book as a
    resp = await client.post(f"/admin/review/{first['id']}/resolve", headers=ADMIN,
                             json={"action": "merge", "record_id": a})
    assert resp.status == 200 and (await resp.json())["closed_items"] == []
    (still,) = (await (await client.get("/admin/review", headers=ADMIN)).json())["items"]
    assert still["id"] == second["id"] and still["record_id"] == a and sorted(still["candidates"]) == sorted([a, c])

    # second: a (which took b) is the same book as c
    resp = await client.post(f"/admin/review/{second['id']}/resolve", headers=ADMIN,
                             json={"action": "merge", "record_id": c})
    assert resp.status == 200, await resp.text()
    detail = await record(client, c)
    assert sorted(detail["merged_from"], key=int) == sorted([a, b], key=int)
    assert live_sigels(detail) == ["G", "Li", "Nyks", "Sods"]
    delivered = {p["record_id"] for p in detail["provenance"] if p["kind"] == "delivery"}
    assert delivered == {a, b, c}
    assert (await record(client, b))["merged_into"] == c
    assert await sru(client, f"bath.isbn = {ISBN_B}") == [c]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bib_records WHERE NOT deleted") == 1


async def test_keep_after_a_merge_moves_the_holdings_from_where_they_went(client: TestClient, world: World) -> None:
    """An item whose record was merged away (by another item) names the survivor; keeping its
    incoming record elsewhere then moves the incoming holdings from the survivor."""
    isbn_c = "9789100000004"
    ids = []
    for own, isbn in (("K1", ISBN_A), ("K2", ISBN_B), ("K3", isbn_c)):
        ids.append((await load(client, world.supplier_token, bib(own_id=own, isbn=[isbn], level=" ")))
                   ["records"][0]["record_id"])
    a, b, c = ids
    # Y2 first (attached to b, with a holding), then Y1 (attached to a)
    await load(client, world.supplier_token, bib(own_id="Y2", isbn=[ISBN_B, isbn_c], level="5"), holding("Sods"))
    await load(client, world.supplier_token, bib(own_id="Y1", isbn=[ISBN_A, ISBN_B], level="5"))
    second, first = sorted((await (await client.get("/admin/review", headers=ADMIN)).json())["items"],
                           key=lambda i: i["id"])
    assert (second["record_id"], first["record_id"]) == (b, a)
    resp = await client.post(f"/admin/review/{first['id']}/resolve", headers=ADMIN,
                             json={"action": "merge", "record_id": a, "records": [b]})
    assert resp.status == 200
    assert live_sigels(await record(client, a)) == ["Sods"]  # Y2's holding came along with b
    resp = await client.post(f"/admin/review/{second['id']}/resolve", headers=ADMIN,
                             json={"action": "keep", "record_id": c})
    assert resp.status == 200, await resp.text()
    assert [h["sigel"] for h in (await resp.json())["holdings"]] == ["Sods"]
    assert live_sigels(await record(client, c)) == ["Sods"] and live_sigels(await record(client, a)) == []
    resp = await client.post(f"/admin/review/{second['id']}/resolve", headers=ADMIN,
                             json={"action": "keep", "record_id": b})
    assert resp.status == 409
