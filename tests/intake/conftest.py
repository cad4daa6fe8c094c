from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.config import Settings
from gateway.http.app import create_app
from tests.intake.helpers import ADMIN_TOKEN, World, seed_registry


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN, secret="test-secret", batch_size=50)


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    async with pool.acquire() as conn:
        return await seed_registry(conn)


@pytest.fixture
async def client(db_url: str, settings: Settings, world: World) -> AsyncIterator[TestClient]:
    app = create_app(settings, database_url=db_url)
    async with TestClient(TestServer(app)) as c:
        yield c
