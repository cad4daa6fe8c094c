"""The registry through the CLI (a real `forvarv` process) and the admin HTTP API."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys

import asyncpg
from aiohttp.test_utils import TestClient

from tests.intake.helpers import ADMIN_TOKEN, World, deliver
from tests.intake.marcxml import bib, collection, holding

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def forvarv(db_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "FORVARV_DATABASE_URL": db_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *args, cwd=PROJECT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_registry_round_trip(db_url: str, pool: asyncpg.Pool) -> None:
    rc, out, err = await forvarv(db_url, "supplier", "add", "ELIB", "--name", "Elib AB")
    assert rc == 0, err
    token = out.strip().splitlines()[-1]
    assert token.startswith("fvg_") and len(token) > 40
    rc, _, err = await forvarv(db_url, "library", "add", "Sods", "--name", "Södertörn", "--email",
                               "a@example.org", "--email", "b@example.org", "--language", "en")
    assert rc == 0, err
    rc, _, err = await forvarv(db_url, "library", "add", "Bad", "--name", "X", "--email", "not-an-address")
    assert rc == 1 and "not an e-mail address" in err
    rc, _, err = await forvarv(db_url, "customer", "add", "ELIB", "Sods")
    assert rc == 0, err
    rc, out, _ = await forvarv(db_url, "library", "list")
    assert "Sods" in out and "a@example.org, b@example.org" in out and " en " in out
    rc, out, _ = await forvarv(db_url, "customer", "list")
    assert "ELIB" in out and "Sods" in out
    async with pool.acquire() as conn:
        stored = await conn.fetchval("SELECT token_hash FROM supplier_tokens")
        dump = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM supplier_tokens t")
    assert stored == hashlib.sha256(token.encode()).digest()
    assert token not in dump  # only the hash is kept
    rc, _, err = await forvarv(db_url, "supplier", "add", "ELIB", "--name", "again")
    assert rc == 1 and "exists" in err
    rc, out, _ = await forvarv(db_url, "supplier", "revoke", "ELIB")
    assert rc == 0 and "revoked 1" in out
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM supplier_tokens WHERE revoked_at IS NULL") == 0
    rc, out, _ = await forvarv(db_url, "customer", "remove", "ELIB", "Sods")
    assert rc == 0
    rc, _, err = await forvarv(db_url, "customer", "remove", "ELIB", "Sods")
    assert rc == 1 and "not a customer" in err


async def test_admin_api_registry_and_tokens(client: TestClient, world: World) -> None:
    resp = await client.get("/admin/suppliers")
    assert resp.status == 401
    resp = await client.get("/admin/suppliers", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    resp = await client.post("/admin/suppliers", json={"code": "NYA", "name": "Nya Bokhandeln"}, headers=ADMIN)
    assert resp.status == 201
    created = await resp.json()
    token = created["token"]
    resp = await client.post("/admin/libraries", headers=ADMIN,
                             json={"sigel": "Ny", "name": "Ny bibliotek", "emails": ["ny@example.org"]})
    assert resp.status == 201
    resp = await client.post("/admin/customers", headers=ADMIN, json={"supplier": "NYA", "sigel": "Ny"})
    assert resp.status == 201
    status, report = await deliver(client, token, collection(bib(own_id="1", isbn=["9789127108509"]),
                                                             holding("Ny"), holding("Sods")))
    assert status == 200
    holdings = {h["sigel"]: h for h in report["records"][0]["holdings"]}
    assert holdings["Ny"]["outcome"] == "added"
    assert holdings["Sods"]["errors"][0]["code"] == "HOLDING_NOT_CUSTOMER"
    resp = await client.patch("/admin/libraries/Ny", headers=ADMIN, json={"language": "en", "digest": True})
    assert (await resp.json())["language"] == "en"
    resp = await client.get("/admin/suppliers/NYA", headers=ADMIN)
    body = await resp.json()
    assert body["customers"] == ["Ny"] and len(body["tokens"]) == 1
    resp = await client.delete(f"/admin/suppliers/NYA/tokens/{created['token_id']}", headers=ADMIN)
    assert (await resp.json())["revoked"] == 1
    resp = await client.get("/deliveries", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401
    resp = await client.post("/admin/suppliers/NYA/tokens", headers=ADMIN)
    fresh = (await resp.json())["token"]
    resp = await client.get("/deliveries", headers={"Authorization": f"Bearer {fresh}"})
    assert resp.status == 200 and len((await resp.json())["deliveries"]) == 1
    resp = await client.delete("/admin/libraries/Ny", headers=ADMIN)
    assert resp.status == 409  # it has holdings: mark it unregistered instead
    resp = await client.post("/admin/libraries", headers=ADMIN, json={"sigel": "Ny", "name": "dup"})
    assert resp.status == 409
    resp = await client.post("/admin/libraries", headers=ADMIN, json={"sigel": "", "name": "x"})
    assert resp.status == 400


async def test_cli_library_update_replaces_and_clears_addresses(db_url: str, pool: asyncpg.Pool) -> None:
    rc, _, err = await forvarv(db_url, "library", "add", "Li", "--name", "Linköping", "--email", "a@example.org")
    assert rc == 0, err
    rc, _, err = await forvarv(db_url, "library", "update", "Li", "--email", "b@example.org", "--email",
                               "c@example.org")
    assert rc == 0, err
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT emails FROM libraries WHERE sigel = 'Li'") == ["b@example.org",
                                                                                          "c@example.org"]
    rc, _, err = await forvarv(db_url, "library", "update", "Li", "--email", "d@example.org", "--no-email")
    assert rc == 2 and "not allowed with" in err  # argparse: one or the other
    rc, _, err = await forvarv(db_url, "library", "update", "Li", "--no-email")
    assert rc == 0, err
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT emails FROM libraries WHERE sigel = 'Li'") == []


async def test_cli_review_resolve_out_of_range_id_is_a_plain_error(db_url: str) -> None:
    for item in ("99999999999999999999", "0"):
        rc, out, err = await forvarv(db_url, "review", "resolve", item)
        assert rc == 1, (out, err)
        assert f"no review item {item}" in err and "Traceback" not in err
