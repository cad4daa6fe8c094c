"""The registry as most storage tests need it, and the gateway app on loopback in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.config import Settings
from gateway.http.app import create_app
from tests.intake.helpers import ADMIN_TOKEN, World, seed_registry


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    async with pool.acquire() as conn:
        return await seed_registry(conn)


@pytest.fixture
async def client(db_url: str, tmp_path: Path, world: World) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN, secret="test-secret", batch_size=50)
    async with TestClient(TestServer(create_app(settings, database_url=db_url))) as c:
        yield c
