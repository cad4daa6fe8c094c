"""A real gateway on loopback (aiohttp's TestServer binds 127.0.0.1 on a free port) with workers,
a registry, and tokens for the admin, two suppliers and a library."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway import library_tokens
from gateway.config import Settings
from gateway.http.app import create_app
from tests.console.browser import browser  # noqa: F401 - a fixture of these tests
from tests.intake.helpers import ADMIN_TOKEN, seed_registry


@dataclass
class Tokens:
    admin: str
    supplier: str  # BOKR
    other_supplier: str  # ADLIB
    library: str  # Sods
    other_library: str  # Nyks


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN, secret="test-secret", batch_size=50,
                    parse_process=False)


@pytest.fixture
async def tokens(pool: asyncpg.Pool) -> Tokens:
    async with pool.acquire() as conn:
        world = await seed_registry(conn)
        _, lib = await library_tokens.create_token(conn, "Sods")
        _, other = await library_tokens.create_token(conn, "Nyks")
    return Tokens(ADMIN_TOKEN, world.supplier_token, world.other_token, lib, other)


@pytest.fixture
async def server(db_url: str, settings: Settings, tokens: Tokens) -> AsyncIterator[TestServer]:
    app = create_app(settings, database_url=db_url)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[TestClient]:
    async with TestClient(server) as c:
        yield c
