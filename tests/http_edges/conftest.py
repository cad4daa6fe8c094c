"""The whole gateway (every feature, no workers) served on a free loopback port, as `forvarv serve`
serves it: through gateway.http.server's runner, so the HTTP parser limits are the real ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from gateway.config import Settings
from gateway.http.app import create_app
from gateway.http.server import start
from tests.ports import free_port

ADMIN_TOKEN = "edges-admin-token"


@dataclass
class Gateway:
    host: str
    port: int
    settings: Settings
    app: web.Application

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
async def gateway(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Gateway]:
    port = free_port()
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN, secret="edges-secret",
                        public_url=f"http://127.0.0.1:{port}", oai_page_size=500, workers=0)
    app = create_app(settings, database_url=db_url, run_workers=False)
    runner = await start(app, "127.0.0.1", port)
    try:
        yield Gateway("127.0.0.1", port, settings, app)
    finally:
        await runner.cleanup()
