from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.config import Settings
from gateway.http.app import create_app
from gateway.sftp import keys, service
from tests.intake.helpers import ADMIN_TOKEN, World, seed_registry
from tests.sftp.helpers import make_key


@dataclass
class Gateway:
    client: TestClient
    app: web.Application
    port: int
    data_dir: Path
    work: Path           # where the client runs and keeps its files
    key: Path            # BOKR's private key
    other_key: Path      # ADLIB's private key
    world: World


@pytest.fixture
def sftp_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, secret="test-secret", batch_size=50,
                    sftp_port=0, sftp_host="127.0.0.1", parse_process=False)


@pytest.fixture
async def gateway(db_url: str, pool: asyncpg.Pool, sftp_settings: Settings, tmp_path: Path) -> AsyncIterator[Gateway]:
    work = tmp_path / "client"
    work.mkdir()
    key, other = make_key(work, "bokr"), make_key(work, "adlib")
    async with pool.acquire() as conn:
        world = await seed_registry(conn)
        await keys.add_key(conn, "BOKR", (work / "bokr.pub").read_text())
        await keys.add_key(conn, "ADLIB", (work / "adlib.pub").read_text())
    app = create_app(sftp_settings, database_url=db_url)
    async with TestClient(TestServer(app)) as client:
        yield Gateway(client, app, service.port(app), sftp_settings.data_dir, work, key, other, world)
