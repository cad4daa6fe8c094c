from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.config import Settings
from gateway.http.app import create_app
from gateway.outbox.sender import SenderPolicy
from gateway.outbox.service import SENDER_POLICY
from gateway.outbox.webhook.service import WEBHOOK_POLICY
from tests.intake.helpers import ADMIN_TOKEN, World, seed_registry
from tests.outbox.helpers import FAST
from tests.webhooks.receiver import Receiver

#: Retries within a fraction of a second; a request may take half a second.
QUICK = SenderPolicy(poll_interval=0.05, base_delay=0.1, max_delay=0.3, max_attempts=50, send_timeout=0.5,
                     lease_margin=1.0)


@dataclass
class Gateway:
    client: TestClient
    pool: asyncpg.Pool
    world: World
    admin: dict[str, str]


@pytest.fixture
def policy() -> SenderPolicy:
    return QUICK


@pytest.fixture
async def gateway(db_url: str, pool: asyncpg.Pool, tmp_path, policy: SenderPolicy) -> AsyncIterator[Gateway]:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN, secret="test-secret", batch_size=50,
                        public_url="https://forvarv.example.org", webhook_allow_private=True, parse_process=False)
    async with pool.acquire() as conn:
        world = await seed_registry(conn)
    app = create_app(settings, database_url=db_url)
    app[WEBHOOK_POLICY] = policy
    app[SENDER_POLICY] = FAST
    async with TestClient(TestServer(app)) as client:
        yield Gateway(client, pool, world, {"Authorization": f"Bearer {ADMIN_TOKEN}"})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    yield r
    await r.stop()
