"""The delivery report's entries (built as JSON by PostgreSQL, gateway.intake.report) against the rules,
restated here plainly over the delivery_records rows they come from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from gateway.intake import report
from tests.intake.helpers import World, deliver
from tests.intake.marcxml import bib, collection, holding
from tests.outbox.test_cli import forvarv

ISBN = "978-91-502-2231-9"


def expected_entries(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    """Entries in file order; a holding goes under the bibliographic record of this delivery it
    belongs to (before or after it in the file), else it is an entry of its own."""
    bibs = {r["position"]: r for r in rows if r["kind"] == "bib"}

    def text(value: int | None) -> str | None:
        return None if value is None else str(value)

    def held(r: asyncpg.Record) -> dict[str, Any]:
        return {"position": r["position"], "sigel": r["sigel"], "outcome": r["outcome"],
                "holding_id": text(r["holding_id"]), "errors": json.loads(r["errors"]),
                "warnings": json.loads(r["warnings"])}

    out: list[tuple[int, dict[str, Any]]] = []
    for r in rows:
        if r["kind"] == "bib":
            entry = {"position": r["position"], "type": "bibliographic", "supplier_id": r["supplier_id"],
                     "identifiers": list(r["identifiers"]), "outcome": r["outcome"],
                     "record_id": text(r["record_id"]), "candidates": [str(c) for c in r["candidates"]],
                     "title": r["title"], "errors": json.loads(r["errors"]), "warnings": json.loads(r["warnings"]),
                     "holdings": [held(h) for h in rows
                                  if h["kind"] == "holding" and h["parent_position"] == r["position"]]}
            out.append((r["position"], entry))
        elif r["parent_position"] not in bibs:
            out.append((r["parent_position"] or r["position"], {
                "position": r["position"], "type": "holdings", "supplier_id": r["supplier_id"],
                "outcome": r["outcome"], "record_id": text(r["record_id"]), "errors": json.loads(r["errors"]),
                "warnings": [], "holdings": [held(r)]}))
    return [entry for _, entry in sorted(out, key=lambda item: (item[0], item[1]["position"]))]


async def rows_of(pool: asyncpg.Pool, delivery_id: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        await conn.set_type_codec("jsonb", encoder=str, decoder=str, schema="pg_catalog")  # raw text here
        return await conn.fetch("SELECT * FROM delivery_records WHERE delivery_id = $1 ORDER BY position",
                                int(delivery_id))


async def test_report_entries_follow_the_rules_for_every_shape(client: TestClient, world: World,
                                                               pool: asyncpg.Pool) -> None:
    awkward = 'Citat "så" \\ back\tslash \u2028 och 𝄞 <&>'
    first = collection(bib(own_id="E1", isbn=[ISBN], title="Tidigare"))
    status, _ = await deliver(client, world.supplier_token, first)
    assert status == 200
    body = collection(
        holding("Li", parent="B3"),                   # forward reference: belongs to B3, listed under it
        bib(own_id="B1", isbn=[ISBN], title=awkward),  # matches E1
        holding("Sods"),                               # Libris convention: the record before
        holding(None),                                 # rejected: no sigel
        holding("Nyks", parent="E1"),                  # a record delivered before: an entry of its own
        bib(own_id="B2", title=None),                  # rejected: no 245
        holding("G"),                                  # after a rejected record
        bib(own_id="B3", issn=("2049-3630",), title="Tre"),
        holding("Other"),                              # not a customer: rejected
    )
    status, answer = await deliver(client, world.supplier_token, body)
    assert status == 200 and answer["status"] == "done", answer
    expected = expected_entries(await rows_of(pool, answer["id"]))
    assert answer["records"] == expected
    # the shapes this delivery was built to have are all there
    assert [e["type"] for e in answer["records"]].count("holdings") == 1
    assert {e.get("title") for e in answer["records"] if e["type"] == "bibliographic"} == {awkward, "Tre", None}
    assert [h["sigel"] for e in answer["records"] if e.get("title") == "Tre" for h in e["holdings"]] == ["Li", "Other"]
    # the same through GET and as the CLI builds it in memory
    resp = await client.get(f"/deliveries/{answer['id']}", headers={"Authorization": f"Bearer {world.supplier_token}"})
    assert (await resp.json())["records"] == expected
    async with pool.acquire() as conn:
        built = await report.build(conn, int(answer["id"]), None)
    assert built["records"] == expected


async def test_a_report_longer_than_one_fetch(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    """More rows than one cursor fetch, with a record's holdings split across two fetches."""
    records = []
    for i in range(1, 1400):
        records.append(bib(own_id=f"L{i}", sysno=(f"(X)L{i}",), title=f"Bok {i}"))
        records.append(holding("Sods"))
        if i % 2:
            records.append(holding("Li"))
    status, answer = await deliver(client, world.supplier_token, collection(*records), wait=60)
    assert status == 200 and answer["status"] == "done", answer
    assert answer["records"] == expected_entries(await rows_of(pool, answer["id"]))
    assert len(answer["records"]) == 1399


async def test_an_ambiguous_match_is_reported_with_every_candidate(client: TestClient, world: World,
                                                                   pool: asyncpg.Pool, db_url: str,
                                                                   tmp_path: Path) -> None:
    """A record matching two records is `ambiguous` (not `matched`) with both candidates' ids and
    titles, over HTTP and in the CLI's report, and counts only as ambiguous in the summary; the other
    outcomes keep their shape."""
    for own, isbn, title, level in (("M1", "9789127108509", "Äldst", " "), ("M2", ISBN, "Yngre", " ")):
        status, _ = await deliver(client, world.supplier_token, collection(bib(own_id=own, isbn=[isbn], title=title,
                                                                               level=level)))
        assert status == 200
    status, answer = await deliver(client, world.supplier_token, collection(
        bib(own_id="M3", isbn=["9789127108509", ISBN], title="Båda"), holding("Sods"),
        bib(own_id="M4", isbn=["9789127108509"], title="En"), holding("Li"),
        bib(own_id="M5", sysno=("(X)M5",), title="Ny")))
    assert status == 200 and answer["status"] == "done", answer
    rows = await rows_of(pool, answer["id"])
    async with pool.acquire() as conn:
        old = {r["title"]: str(r["record_id"]) for r in await conn.fetch(
            "SELECT title, record_id FROM delivery_records WHERE title IN ('Äldst', 'Yngre')")}
    resp = await client.get(f"/deliveries/{answer['id']}", headers={"Authorization": f"Bearer {world.supplier_token}"})
    assert resp.status == 200
    got = await resp.json()
    both, one, new = got["records"]
    assert both["outcome"] == "ambiguous" and both["attached_as"] == "matched"
    assert both["record_id"] == old["Äldst"]
    assert both["candidates"] == [old["Äldst"], old["Yngre"]]
    assert both["candidate_records"] == [{"record_id": old["Äldst"], "title": "Äldst"},
                                         {"record_id": old["Yngre"], "title": "Yngre"}]
    assert both["holdings"][0]["outcome"] == "added"
    # one candidate: matched, the shape as before (no ambiguous members)
    assert one["outcome"] == "matched" and one["candidates"] == [old["Äldst"]]
    assert "candidate_records" not in one and "attached_as" not in one
    assert new["outcome"] == "created" and "candidate_records" not in new
    # the rest of the report is the stored rows, restated
    assert [e for e in got["records"] if e["outcome"] != "ambiguous"] == [
        e for e in expected_entries(rows) if e["position"] != both["position"]]
    assert {k: got["summary"][k] for k in ("records", "created", "matched", "updated", "ambiguous", "rejected")} == {
        "records": 3, "created": 1, "matched": 1, "updated": 0, "ambiguous": 1, "rejected": 0}
    # the CLI's report says the same
    code, out, err = await forvarv(db_url, tmp_path, "deliveries", "show", answer["id"])
    assert code == 0, err
    shown = json.loads(out)
    assert shown["records"] == got["records"] and shown["summary"] == got["summary"]
