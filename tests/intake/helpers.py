"""Helpers for intake tests: a registry, a running app, deliveries through the real HTTP path."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from gateway import registry

ADMIN_TOKEN = "test-admin-token"


@dataclass
class World:
    supplier_token: str
    other_token: str


async def seed_registry(conn: asyncpg.Connection) -> World:
    await registry.add_supplier(conn, "BOKR", "Bokrondellen")
    await registry.add_supplier(conn, "ADLIB", "Adlibris")
    _, token = await registry.create_token(conn, "BOKR")
    _, other = await registry.create_token(conn, "ADLIB")
    for sigel, name in (("Sods", "Södertörns högskolebibliotek"), ("Nyks", "Nyköpings stadsbibliotek"),
                        ("Li", "Linköpings stadsbibliotek"), ("G", "Göteborgs universitetsbibliotek")):
        await registry.add_library(conn, sigel, name, [f"{sigel.lower()}@example.org"])
        await registry.add_customer(conn, "BOKR", sigel)
    await registry.add_library(conn, "Unreg", "Unregistered library", [], registered=False)
    await registry.add_customer(conn, "BOKR", "Unreg")
    await registry.add_library(conn, "Other", "Not a customer", ["other@example.org"])
    return World(token, other)


async def deliver(client: TestClient, token: str, body: bytes, *, content_type: str = "application/marcxml+xml",
                  wait: float = 30, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    h = {"Authorization": f"Bearer {token}", "Content-Type": content_type, **(headers or {})}
    resp = await client.post(f"/deliveries?wait={wait}", data=body, headers=h)
    return resp.status, await resp.json()


async def wait_done(pool: asyncpg.Pool, delivery_id: int, seconds: float = 30) -> str:
    async with asyncio.timeout(seconds):
        while True:
            async with pool.acquire() as conn:
                status = await conn.fetchval("SELECT status FROM deliveries WHERE id = $1", delivery_id)
            if status in ("done", "failed"):
                return str(status)
            await asyncio.sleep(0.05)
