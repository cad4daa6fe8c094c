"""Registry changes through the admin HTTP API on loopback: a refused value is a 400 naming the field,
and nothing changes; a good change of several fields is applied whole."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient as _TestClient

from tests.intake.helpers import ADMIN_TOKEN

TestClient = _TestClient[web.Request, web.Application]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

GOOD = {"name": "Changed", "emails": ["changed@example.org"], "language": "en", "registered": False,
        "digest": True}

BAD_PATCHES: list[tuple[str, object]] = [
    ("name", None), ("name", 5), ("name", ""), ("name", "   "), ("name", ["x"]), ("name", "Bad\x00name"),
    ("emails", None), ("emails", 5), ("emails", [5]), ("emails", {"a": "b@example.org"}),
    ("emails", ["not-an-address"]), ("emails", ["ok@example.org", "a\x00b@example.org"]),
    ("language", "de"), ("language", 5), ("language", None),
    ("registered", "yes"), ("registered", 1), ("registered", None),
    ("digest", "false"), ("digest", 0), ("digest", None),
    ("sigel", "New"), ("conn", 1), ("created_at", "2020-01-01T00:00:00Z"),
]


async def stored(pool: asyncpg.Pool, table: str = "libraries") -> list[tuple[object, ...]]:
    async with pool.acquire() as conn:
        return [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY 1")]


async def refused(resp: Any, field: str) -> dict[str, Any]:
    assert resp.status == 400, await resp.text()
    body = await resp.json()
    assert body["error"] == "invalid"
    assert body["field"] == field
    assert field in body["message"]
    return dict(body)


@pytest.mark.parametrize(("field", "value"), BAD_PATCHES)
async def test_patch_with_a_bad_value_is_a_400_and_changes_nothing(
        client: TestClient, pool: asyncpg.Pool, field: str, value: object) -> None:
    before = await stored(pool)
    shown = await (await client.get("/admin/libraries/Sods", headers=ADMIN)).json()
    # The good changes come first: a column-by-column update would have made them already.
    body = {**{k: v for k, v in GOOD.items() if k != field}, field: value}
    await refused(await client.patch("/admin/libraries/Sods", headers=ADMIN, json=body), field)
    assert await stored(pool) == before
    assert await (await client.get("/admin/libraries/Sods", headers=ADMIN)).json() == shown


async def test_patch_refused_by_the_schema_is_a_400_and_changes_nothing(
        client: TestClient, pool: asyncpg.Pool) -> None:
    """A rule only the database knows (here a CHECK added for the test) is refused whole too."""
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE libraries ADD CONSTRAINT libraries_name_not_x CHECK (name <> 'X')")
    before = await stored(pool)
    resp = await client.patch("/admin/libraries/Sods", headers=ADMIN,
                              json={"language": "en", "digest": True, "name": "X"})
    assert resp.status == 400, await resp.text()
    body = await resp.json()
    assert body["error"] == "invalid" and "libraries_name_not_x" in body["message"]
    assert await stored(pool) == before


async def test_patch_of_several_fields_is_applied_whole(client: TestClient, pool: asyncpg.Pool) -> None:
    others = [r for r in await stored(pool) if r[0] != "Sods"]
    resp = await client.patch("/admin/libraries/Sods", headers=ADMIN,
                              json={**GOOD, "name": "  Södertörn, nytt namn  ",
                                    "emails": [" a@example.org ", "", "b@example.org"]})
    assert resp.status == 200, await resp.text()
    want = {"sigel": "Sods", "name": "Södertörn, nytt namn", "emails": ["a@example.org", "b@example.org"],
            "language": "en", "registered": False, "digest": True}
    assert await resp.json() == want
    assert await (await client.get("/admin/libraries/Sods", headers=ADMIN)).json() == want
    assert [r for r in await stored(pool) if r[0] != "Sods"] == others
    # One address as a plain string, as POST takes it; an empty list clears them; {} changes nothing.
    resp = await client.patch("/admin/libraries/Sods", headers=ADMIN, json={"emails": "one@example.org"})
    assert (resp.status, (await resp.json())["emails"]) == (200, ["one@example.org"])
    resp = await client.patch("/admin/libraries/Sods", headers=ADMIN, json={"emails": [], "registered": True})
    assert resp.status == 200
    assert await resp.json() == {**want, "emails": [], "registered": True}
    resp = await client.patch("/admin/libraries/Sods", headers=ADMIN, json={})
    assert await resp.json() == {**want, "emails": [], "registered": True}
    resp = await client.patch("/admin/libraries/Nope", headers=ADMIN, json={"digest": True})
    assert resp.status == 404


@pytest.mark.parametrize(("field", "value"), [
    ("registered", "false"), ("digest", "no"), ("registered", None), ("language", None),
    ("name", "Bad\x00name"), ("sigel", "N\x00y"), ("emails", ["a\x00b@example.org"]), ("emails", 5),
])
async def test_post_library_with_a_bad_value_is_a_400_and_adds_nothing(
        client: TestClient, pool: asyncpg.Pool, field: str, value: object) -> None:
    before = await stored(pool)
    body = {"sigel": "Ny", "name": "Ny", "emails": ["ny@example.org"], field: value}
    await refused(await client.post("/admin/libraries", headers=ADMIN, json=body), field)
    assert await stored(pool) == before


async def test_post_library_types_are_kept(client: TestClient) -> None:
    resp = await client.post("/admin/libraries", headers=ADMIN,
                             json={"sigel": "Ny", "name": "Ny", "emails": "ny@example.org",
                                   "registered": False, "digest": True, "language": "en"})
    assert resp.status == 201
    assert await resp.json() == {"sigel": "Ny", "name": "Ny", "emails": ["ny@example.org"], "language": "en",
                                 "registered": False, "digest": True}
    resp = await client.post("/admin/libraries", headers=ADMIN, json={"sigel": "a b", "name": "x"})
    assert (resp.status, (await resp.json())["field"]) == (400, "sigel")


@pytest.mark.parametrize(("field", "value"), [("code", "NY\x00"), ("name", "Ny\x00")])
async def test_post_supplier_with_a_nul_is_a_400_and_adds_nothing(
        client: TestClient, pool: asyncpg.Pool, field: str, value: str) -> None:
    before = await stored(pool, "suppliers"), await stored(pool, "supplier_tokens")
    await refused(await client.post("/admin/suppliers", headers=ADMIN,
                                    json={"code": "NY", "name": "Ny", field: value}), field)
    assert (await stored(pool, "suppliers"), await stored(pool, "supplier_tokens")) == before


@pytest.mark.parametrize(("method", "path", "field"), [
    ("GET", "/admin/libraries/S%00ds", "sigel"),
    ("PATCH", "/admin/libraries/S%00ds", "sigel"),
    ("DELETE", "/admin/libraries/S%00ds", "sigel"),
    ("GET", "/admin/suppliers/BO%00KR", "code"),
    ("DELETE", "/admin/suppliers/BO%00KR", "code"),
    ("POST", "/admin/suppliers/BO%00KR/tokens", "code"),
    ("DELETE", "/admin/suppliers/BO%00KR/tokens", "code"),
    ("DELETE", "/admin/customers/BOKR/S%00ds", "sigel"),
    ("GET", "/admin/customers?supplier=BO%00KR", "supplier"),
])
async def test_a_nul_in_the_path_or_query_is_a_400(
        client: TestClient, pool: asyncpg.Pool, method: str, path: str, field: str) -> None:
    before = [await stored(pool, t) for t in ("libraries", "suppliers", "supplier_tokens", "customers")]
    json = {"digest": True} if method == "PATCH" else None
    await refused(await client.request(method, path, headers=ADMIN, json=json), field)
    assert [await stored(pool, t) for t in ("libraries", "suppliers", "supplier_tokens", "customers")] == before


async def test_a_nul_in_a_customer_link_is_a_400(client: TestClient, pool: asyncpg.Pool) -> None:
    before = await stored(pool, "customers")
    await refused(await client.post("/admin/customers", headers=ADMIN,
                                    json={"supplier": "BOKR", "sigel": "Oth\x00er"}), "sigel")
    await refused(await client.post("/admin/customers", headers=ADMIN,
                                    json={"supplier": "BO\x00KR", "sigel": "Other"}), "supplier")
    assert await stored(pool, "customers") == before


@pytest.mark.parametrize("raw", ["99999999999999999999", "-1", "0", "x"])
async def test_ids_in_the_path_must_be_positive_bigints(client: TestClient, pool: asyncpg.Pool, raw: str) -> None:
    before = await stored(pool, "supplier_tokens")
    await refused(await client.delete(f"/admin/suppliers/BOKR/tokens/{raw}", headers=ADMIN), "token_id")
    await refused(await client.post(f"/admin/review/{raw}/resolve", headers=ADMIN), "id")
    assert await stored(pool, "supplier_tokens") == before
