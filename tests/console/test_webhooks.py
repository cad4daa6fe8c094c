"""A library's webhooks in the console: refused addresses said on the page, the signing secret shown
once, failed events queued again, removal, the operator's list of failing webhooks, admin only."""

from __future__ import annotations

import re

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from gateway.config import Settings
from gateway.outbox.webhook import registry as webhooks
from tests.console import conftest
from tests.console.conftest import Tokens
from tests.console.helpers import page_csrf, sign_in

LIB = "/console/registry/libraries/Sods"


@pytest.fixture
def settings(tmp_path, request: pytest.FixtureRequest) -> Settings:  # type: ignore[no-untyped-def]
    """The console's settings; `True` as the parameter lets webhooks name loopback addresses."""
    return Settings(data_dir=tmp_path, admin_token=conftest.ADMIN_TOKEN, secret="test-secret", batch_size=50,
                    parse_process=False, webhook_allow_private=getattr(request, "param", False))


async def test_private_address_is_refused_on_the_page(client: TestClient, pool: asyncpg.Pool,
                                                      tokens: Tokens) -> None:
    await sign_in(client, tokens.admin)
    csrf = await page_csrf(client, LIB)
    resp = await client.post(f"{LIB}/webhooks", data={"csrf": csrf, "url": "http://127.0.0.1:9/hook"})
    assert resp.status == 400
    assert "url refused" in await resp.text()
    bad = await client.post(f"{LIB}/webhooks", data={"csrf": csrf, "url": "ftp://example.org/x"})
    assert bad.status == 400
    async with pool.acquire() as conn:
        assert await webhooks.list_webhooks(conn, "Sods") == []
    # without the form's CSRF token nothing happens
    forged = await client.post(f"{LIB}/webhooks", data={"url": "http://127.0.0.1:9/hook"})
    assert forged.status == 403


async def test_add_retry_remove(client: TestClient, pool: asyncpg.Pool, tokens: Tokens) -> None:
    await sign_in(client, tokens.admin)
    csrf = await page_csrf(client, LIB)
    async with pool.acquire() as conn:
        # the page adds through the same registry; the address check is the CLI's and the API's
        added = await webhooks.add(conn, "Sods", "http://127.0.0.1:9/first", allow_private=True)
    html = await (await client.get(LIB)).text()
    assert "http://127.0.0.1:9/first" in html
    assert added["secret"] not in html            # shown once, when it was made, never again
    # a failed event: the retry button queues it again
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO webhook_events (webhook_id, type, content, status, attempts, last_error) "
                           "VALUES ($1, 'delivery.loaded', '[]', 'failed', 8, 'gave up')", added["id"])
        await conn.execute("UPDATE webhooks SET state = 'failing', last_error = 'gave up <b>' WHERE id = $1",
                           added["id"])
    html = await (await client.get(LIB)).text()
    assert f'action="{LIB}/webhooks/{added["id"]}/retry"' in html
    assert "gave up &lt;b&gt;" in html            # escaped like every value
    failing = await client.get("/console/registry/webhooks/failing")
    assert failing.status == 200 and "http://127.0.0.1:9/first" in await failing.text()
    resp = await client.post(f"{LIB}/webhooks/{added['id']}/retry", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM webhook_events WHERE webhook_id = $1", added["id"]) == "pending"
    resp = await client.post(f"{LIB}/webhooks/{added['id']}/remove", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    async with pool.acquire() as conn:
        assert await webhooks.list_webhooks(conn, "Sods") == []
    assert (await client.post(f"{LIB}/webhooks/{added['id']}/remove", data={"csrf": csrf})).status == 404


@pytest.mark.parametrize("settings", [True], indirect=True, ids=["allow-private"])
async def test_secret_shown_once_when_added_from_the_page(client: TestClient, pool: asyncpg.Pool,
                                                          tokens: Tokens) -> None:
    await sign_in(client, tokens.admin)
    csrf = await page_csrf(client, LIB)
    resp = await client.post(f"{LIB}/webhooks", data={"csrf": csrf, "url": "http://127.0.0.1:9/from-page"})
    assert resp.status == 201
    secret = re.search(r'id="new-webhook-secret" tabindex="-1">(fvw_[^<]+)<', await resp.text())
    assert secret
    async with pool.acquire() as conn:
        (row,) = await webhooks.list_webhooks(conn, "Sods")
        stored = await conn.fetchval("SELECT secret FROM webhooks WHERE id = $1", row["id"])
    assert stored == secret.group(1)
    assert secret.group(1) not in await (await client.get(LIB)).text()
    dup = await client.post(f"{LIB}/webhooks", data={"csrf": csrf, "url": "http://127.0.0.1:9/from-page"})
    assert dup.status == 409


async def test_only_the_admin(client: TestClient, tokens: Tokens) -> None:
    for token in (tokens.library, tokens.supplier):
        await sign_in(client, token)
        csrf = await page_csrf(client)
        assert (await client.get("/console/registry/webhooks/failing")).status == 404
        resp = await client.post(f"{LIB}/webhooks", data={"csrf": csrf, "url": "http://127.0.0.1:9/x"})
        assert resp.status == 404
