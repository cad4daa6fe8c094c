"""/admin/notifications over real HTTP (aiohttp test server on loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.http.appkeys import POOL, SETTINGS
from gateway.outbox import service
from tests.outbox.helpers import ADMIN_TOKEN, one_delivery, settings_for, world
from tests.outbox.seed import Title

Client = TestClient[web.Request, web.Application]

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def client(pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Client]:
    app = web.Application()
    app[SETTINGS] = settings_for(tmp_path, None)
    app[POOL] = pool
    service.setup(app, run_sender=False)
    async with TestClient(TestServer(app)) as c:
        yield c


async def _seed(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        sid = await world(conn)
        await one_delivery(conn, sid, [Title("Pippi", "created", [("Sods", "added"), ("Li", "added")])])
        await conn.execute(
            "UPDATE notifications SET status = 'failed', attempts = 1, last_error = '550 no' "
            "WHERE sigel = 'Li'"
        )
        return {r["sigel"]: r["id"] for r in await conn.fetch("SELECT sigel, id FROM notifications")}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN}])
async def test_admin_token_required(client: Client, headers: dict[str, str]) -> None:
    for method, path in (
        ("GET", "/admin/notifications"),
        ("GET", "/admin/notifications/1"),
        ("POST", "/admin/notifications/1/resend"),
    ):
        resp = await client.request(method, path, headers=headers)
        assert resp.status == 401, path
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_no_admin_token_configured_means_no_admin(pool: asyncpg.Pool, tmp_path: Path) -> None:
    app = web.Application()
    app[SETTINGS] = settings_for(tmp_path, None).with_(admin_token=None)
    app[POOL] = pool
    service.setup(app, run_sender=False)
    async with TestClient(TestServer(app)) as c:
        assert (await c.get("/admin/notifications", headers={"Authorization": "Bearer "})).status == 401
        assert (await c.get("/admin/notifications", headers={"Authorization": "Bearer None"})).status == 401


async def test_list_filter_and_page(client: Client, pool: asyncpg.Pool) -> None:
    ids = await _seed(pool)
    body = await (await client.get("/admin/notifications", headers=AUTH)).json()
    assert sorted(n["id"] for n in body["notifications"]) == sorted(ids.values())
    body = await (await client.get("/admin/notifications?status=failed", headers=AUTH)).json()
    (failed,) = body["notifications"]
    assert (failed["sigel"], failed["status"], failed["last_error"]) == ("Li", "failed", "550 no")
    body = await (await client.get("/admin/notifications?status=pending,failed&limit=1", headers=AUTH)).json()
    assert len(body["notifications"]) == 1
    nxt = body["next"]
    body = await (await client.get(f"/admin/notifications?limit=1&before={nxt}", headers=AUTH)).json()
    assert [n["id"] for n in body["notifications"]] == [min(ids.values())]
    resp = await client.get("/admin/notifications?status=lost", headers=AUTH)
    assert resp.status == 400
    assert "unknown status" in (await resp.json())["error"]
    assert (await client.get("/admin/notifications?limit=x", headers=AUTH)).status == 400


async def test_show_renders_the_message(client: Client, pool: asyncpg.Pool) -> None:
    ids = await _seed(pool)
    body = await (await client.get(f"/admin/notifications/{ids['Sods']}", headers=AUTH)).json()
    assert body["status"] == "pending"
    assert "Subject: =?utf-8?" in body["message"]
    assert "Message-ID: <forvarv.delivery-" in body["message"]
    assert (await client.get("/admin/notifications/999999", headers=AUTH)).status == 404


async def test_resend(client: Client, pool: asyncpg.Pool) -> None:
    ids = await _seed(pool)
    resp = await client.post(f"/admin/notifications/{ids['Li']}/resend", headers=AUTH)
    assert resp.status == 202
    body = await resp.json()
    assert (body["status"], body["attempts"], body["resends"], body["last_error"]) == ("pending", 0, 1, None)
    assert (await client.post("/admin/notifications/999999/resend", headers=AUTH)).status == 404
    async with pool.acquire() as conn:
        await conn.execute("UPDATE notifications SET status = 'sending' WHERE id = $1", ids["Sods"])
    assert (await client.post(f"/admin/notifications/{ids['Sods']}/resend", headers=AUTH)).status == 409
