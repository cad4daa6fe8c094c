"""The console's overview lists the live gateway processes (heartbeats) to the admin only."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import aiohttp
import asyncpg

from tests.console.helpers import csrf_of
from tests.intake.helpers import seed_registry
from tests.ops import procs


async def _signed_in(url: str, token: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(f"{url}/console/sign-in") as resp:
        csrf = csrf_of(await resp.text())
    async with session.post(f"{url}/console/sign-in", data={"csrf": csrf, "token": token},
                            allow_redirects=False) as resp:
        assert resp.status == 303, await resp.text()
    return session


def _processes(html: str) -> list[str]:
    found = re.search(r'<ul class="processes">(.*?)</ul>', html, re.S)
    assert found is not None
    return [re.sub(r"\s+", " ", re.sub("<[^>]+>", "", li)).strip()
            for li in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)]


async def test_the_overview_shows_the_live_processes(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        world = await seed_registry(conn)
    environ = procs.env(db_url, tmp_path)
    host = socket.gethostname()
    async with procs.running("web", environ) as web, procs.running("worker", environ) as worker:
        admin = await _signed_in(web.url, procs.ADMIN_TOKEN)
        try:
            async with admin.get(f"{web.url}/", headers={"Accept-Language": "en"}) as resp:
                html = await resp.text()
            shown = _processes(html)
            assert len(shown) == 2, shown
            assert any(s.startswith(f"web {host}:{web.pid} (http, 127.0.0.1:{web.port},") and "alive" in s
                       for s in shown), shown
            assert any(s.startswith(f"worker {host}:{worker.pid} (load,") for s in shown), shown
            assert await worker.stop() == 0
            async with admin.get(f"{web.url}/", headers={"Accept-Language": "en"}) as resp:
                shown = _processes(await resp.text())
            assert len(shown) == 1 and shown[0].startswith(f"web {host}:{web.pid}"), shown
        finally:
            await admin.close()
        supplier = await _signed_in(web.url, world.supplier_token)
        try:
            async with supplier.get(f"{web.url}/") as resp:
                html = await resp.text()
            assert resp.status == 200
            assert 'class="processes"' not in html and str(web.pid) not in html
        finally:
            await supplier.close()
