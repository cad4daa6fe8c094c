"""Protected records (gateway.intake.protection): a record a cataloguer marked is never replaced by a
supplier's record; its holdings still attach. Through the admin API and the CLI."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from tests.intake.helpers import ADMIN_TOKEN, World, deliver
from tests.intake.marcxml import bib, collection, holding
from tests.intake.test_registry import forvarv

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ISBN = "9789127108509"


async def load(client: TestClient, world: World, *records: str) -> dict:  # type: ignore[type-arg]
    status, report = await deliver(client, world.supplier_token, collection(*records))
    assert status == 200 and report["status"] == "done", report
    (entry,) = report["records"]
    return entry  # type: ignore[no-any-return]


async def stored(pool: asyncpg.Pool, record_id: str) -> asyncpg.Record:
    async with pool.acquire() as conn:
        row: asyncpg.Record = await conn.fetchrow(
            "SELECT marcxml, encoding_level, protected, modified_at FROM bib_records WHERE id = $1", int(record_id))
    return row


async def test_a_protected_record_is_not_replaced_until_unprotected(client: TestClient, world: World,
                                                                    pool: asyncpg.Pool) -> None:
    first = await load(client, world, bib(own_id="P1", isbn=[ISBN], level="5", title="Preliminär"))
    record_id = first["record_id"]
    resp = await client.post(f"/admin/records/{record_id}/protect", headers=ADMIN)
    assert resp.status == 200
    assert await resp.json() == {"record_id": record_id, "protected": True, "encoding_level": "5"}
    before = await stored(pool, record_id)

    # level 8 would replace a 5: not a protected one; the holding still attaches
    second = await load(client, world, bib(own_id="P1", isbn=[ISBN], level="8", title="Ny version"), holding("Sods"))
    assert (second["outcome"], second["record_id"]) == ("matched", record_id)
    assert second["holdings"][0]["outcome"] == "added"
    after = await stored(pool, record_id)
    assert after["marcxml"] == before["marcxml"] and "Preliminär" in after["marcxml"]
    assert after["protected"]

    resp = await client.post(f"/admin/records/{record_id}/unprotect", headers=ADMIN)
    assert (await resp.json())["protected"] is False
    third = await load(client, world, bib(own_id="P1", isbn=[ISBN], level="8", title="Ny version"))
    assert (third["outcome"], third["record_id"]) == ("updated", record_id)
    assert "Ny version" in (await stored(pool, record_id))["marcxml"]


async def test_protecting_changes_nothing_a_harvester_sees(client: TestClient, world: World,
                                                           pool: asyncpg.Pool) -> None:
    record_id = (await load(client, world, bib(own_id="P2", isbn=[ISBN])))["record_id"]
    before = await stored(pool, record_id)
    assert (await client.post(f"/admin/records/{record_id}/protect", headers=ADMIN)).status == 200
    after = await stored(pool, record_id)
    assert (after["marcxml"], after["modified_at"]) == (before["marcxml"], before["modified_at"])


async def test_protect_answers_for_unknown_and_bad_ids(client: TestClient, world: World) -> None:
    assert (await client.post("/admin/records/999999/protect", headers=ADMIN)).status == 404
    assert (await client.post("/admin/records/x/protect", headers=ADMIN)).status == 400
    assert (await client.post("/admin/records/99999999999999999999/unprotect", headers=ADMIN)).status == 400
    assert (await client.post("/admin/records/1/protect")).status == 401
    assert (await client.post("/admin/records/1/lock", headers=ADMIN)).status == 404  # no such action


async def test_cli_protect_and_unprotect(client: TestClient, world: World, pool: asyncpg.Pool, db_url: str) -> None:
    record_id = (await load(client, world, bib(own_id="P3", isbn=[ISBN])))["record_id"]
    rc, out, err = await forvarv(db_url, "record", "protect", record_id)
    assert rc == 0, err
    assert f"record {record_id} is protected" in out
    assert (await stored(pool, record_id))["protected"]
    rc, out, err = await forvarv(db_url, "record", "unprotect", record_id)
    assert rc == 0 and "not protected" in out, err
    assert not (await stored(pool, record_id))["protected"]
    rc, _, err = await forvarv(db_url, "record", "protect", "123456789")
    assert rc == 1 and "no bibliographic record 123456789" in err
