"""/health and /ready over real HTTP on `forvarv web`, with the other roles as real processes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from tests.intake.helpers import seed_registry
from tests.ops import procs


async def _ready(session: aiohttp.ClientSession, web: procs.Proc) -> tuple[int, dict[str, object]]:
    return await procs.get_json(session, f"{web.url}/ready")


def _problems(body: dict[str, object]) -> dict[str, str]:
    return {p["check"]: p["message"] for p in body["problems"]}  # type: ignore[attr-defined]


async def test_ready_names_what_is_missing_until_the_roles_run(db_url: str, pool: asyncpg.Pool,
                                                               tmp_path: Path) -> None:
    environ = procs.env(db_url, tmp_path)
    async with procs.running("web", environ) as web, aiohttp.ClientSession() as session:
        status, body = await procs.get_json(session, f"{web.url}/health")
        assert (status, body["status"], body["pid"]) == (200, "ok", web.pid)
        status, body = await _ready(session, web)
        assert status == 503 and body["status"] == "not ready"
        assert set(_problems(body)) == {"workers", "senders"}
        assert body["checks"] == {"database": "ok", "schema": "ok", "workers": "failed", "senders": "failed",
                                  "outbox": "ok"}
        async with procs.running("worker", environ) as worker, procs.running("mailer", environ) as mailer:
            status, body = await procs.wait_for(lambda: _when(session, web, 200))
            assert body == {"status": "ready", "problems": [], "checks": {
                "database": "ok", "schema": "ok", "workers": "ok", "senders": "ok", "outbox": "ok"}}
            assert await worker.stop() == 0
            status, body = await _ready(session, web)  # the worker removed its row as it stopped
            assert status == 503 and set(_problems(body)) == {"workers"}
            assert "loads deliveries" in _problems(body)["workers"]
            assert await mailer.stop() == 0
        assert await web.stop() == 0


async def _when(session: aiohttp.ClientSession, web: procs.Proc, want: int) -> tuple[int, dict[str, object]] | None:
    status, body = await _ready(session, web)
    return (status, body) if status == want else None


async def test_ready_sees_a_stuck_outbox_and_an_old_schema(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
        # due an hour ago and never taken: no sender is working
        await conn.execute("""INSERT INTO notifications (kind, sigel, content, item_count, status, next_attempt_at)
                              VALUES ('delivery', 'Sods', '{}', 1, 'pending', now() - interval '1 hour')""")
    environ = procs.env(db_url, tmp_path)
    async with procs.running("web", environ) as web, procs.running("worker", environ), \
            aiohttp.ClientSession() as session:
        status, body = await procs.wait_for(lambda: _without(session, web, "workers"))
        assert status == 503
        assert set(_problems(body)) == {"senders", "outbox"}
        assert _problems(body)["outbox"].startswith("1 notification(s) and 0 webhook event(s) due for more than")
        async with pool.acquire() as conn:
            top = await conn.fetchval("SELECT max(version) FROM schema_migrations")
            await conn.execute("DELETE FROM schema_migrations WHERE version = $1", top)
        status, body = await _ready(session, web)
        assert status == 503
        assert _problems(body)["schema"] == f"migration {top:04d} and later not applied (run forvarv migrate)"


async def _without(session: aiohttp.ClientSession, web: procs.Proc, check: str) -> tuple[int, dict[str, object]] | None:
    status, body = await _ready(session, web)
    return (status, body) if check not in _problems(body) else None


async def test_health_answers_and_ready_fails_when_the_database_is_gone(db_url: str, pg_server_url: str,
                                                                        tmp_path: Path) -> None:
    environ = procs.env(db_url, tmp_path)
    async with procs.running("web", environ) as web, aiohttp.ClientSession() as session:
        name = urlsplit(db_url).path.lstrip("/")
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        finally:
            await conn.close()
        status, body = await procs.get_json(session, f"{web.url}/health")
        assert (status, body["status"]) == (200, "ok")
        status, body = await _ready(session, web)
        assert status == 503
        assert body["checks"] == {"database": "failed"}
        assert list(_problems(body)) == ["database"]
        # it keeps serving (asyncpg logs its own retries) and still stops cleanly
        assert web.proc.returncode is None
        assert await web.stop() == 0, web.log
