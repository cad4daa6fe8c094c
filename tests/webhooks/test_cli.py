"""`forvarv library webhook add|list|remove|retry` as a process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import asyncpg

from tests.intake.helpers import seed_registry
from tests.sftp.test_watch_and_keys import forvarv


async def test_webhook_commands(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
    os.environ.pop("FORVARV_WEBHOOK_ALLOW_PRIVATE", None)
    rc, _, err = await forvarv(db_url, tmp_path, "library", "webhook", "add", "Sods", "http://127.0.0.1:9/hook")
    assert rc == 1 and "not a public address" in err and "FORVARV_WEBHOOK_ALLOW_PRIVATE" in err
    os.environ["FORVARV_WEBHOOK_ALLOW_PRIVATE"] = "1"
    try:
        rc, out, err = await forvarv(db_url, tmp_path, "library", "webhook", "add", "Sods", "http://127.0.0.1:9/hook")
    finally:
        del os.environ["FORVARV_WEBHOOK_ALLOW_PRIVATE"]
    assert rc == 0, err
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("fvw_")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT secret FROM webhooks") == secret
    rc, out, err = await forvarv(db_url, tmp_path, "library", "webhook", "list", "--json")
    (hook,) = json.loads(out)
    assert hook["sigel"] == "Sods" and hook["state"] == "active" and "secret" not in hook
    rc, out, err = await forvarv(db_url, tmp_path, "library", "webhook", "retry", "Sods", str(hook["id"]))
    assert rc == 0 and "0 failed event(s)" in out
    rc, out, err = await forvarv(db_url, tmp_path, "library", "webhook", "remove", "Li", str(hook["id"]))
    assert rc == 1 and "has no webhook" in err
    rc, out, err = await forvarv(db_url, tmp_path, "library", "webhook", "remove", "Sods", str(hook["id"]))
    assert rc == 0, err
    rc, out, err = await forvarv(db_url, tmp_path, "library", "webhook", "list", "Sods")
    assert rc == 0 and "no webhooks" in out
