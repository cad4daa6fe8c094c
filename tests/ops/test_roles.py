"""`forvarv web`, `worker` and `mailer` as separate OS processes on one database: each does its own
part only, every process beats its heartbeat, SIGTERM stops each cleanly, and a worker stopped in
the middle of a delivery hands it back to the next one without losing or doubling a record."""

from __future__ import annotations

import signal
from pathlib import Path

import aiohttp
import asyncpg

from gateway.demo import synthetic
from tests.intake.helpers import seed_registry
from tests.ops import procs


async def _post(session: aiohttp.ClientSession, web: procs.Proc, token: str, body: bytes,
                wait: int = 0) -> dict[str, object]:
    async with session.post(f"{web.url}/deliveries?wait={wait}", data=body,
                            headers={"Authorization": f"Bearer {token}",
                                     "Content-Type": "application/marcxml+xml"}) as resp:
        assert resp.status in (200, 202), await resp.text()
        result: dict[str, object] = await resp.json()
        return result


async def _status(pool: asyncpg.Pool, delivery_id: int) -> str:
    async with pool.acquire() as conn:
        return str(await conn.fetchval("SELECT status FROM deliveries WHERE id = $1", delivery_id))


async def test_roles_apart_each_does_its_part(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        world = await seed_registry(conn)
    environ = procs.env(db_url, tmp_path)
    body = synthetic.delivery(30, ["Sods", "Nyks"])
    async with procs.running("web", environ) as web, procs.running("mailer", environ) as mailer, \
            aiohttp.ClientSession() as session:
        assert "[web, pid" in web.banner
        delivery = await _post(session, web, world.supplier_token, body)
        # neither the web process nor the mailer loads: it waits for a worker
        assert await _status(pool, int(delivery["id"])) == "received"  # type: ignore[call-overload]
        async with procs.running("worker", environ) as worker:
            rows = await procs.wait_for(lambda: _three(pool))
            by_role = {r["role"]: r for r in rows}
            assert {r: (by_role[r]["pid"], list(by_role[r]["duties"])) for r in by_role} == {
                "web": (web.pid, ["http"]), "worker": (worker.pid, ["load"]), "mailer": (mailer.pid, ["send"])}
            assert by_role["web"]["listen"] == f"127.0.0.1:{web.port}"
            async with session.get(f"{web.url}/deliveries/{delivery['id']}",
                                   headers={"Authorization": f"Bearer {world.supplier_token}"}) as resp:
                assert resp.status == 200
            assert await procs.wait_for(lambda: _done(pool, int(delivery["id"]))) == "done"  # type: ignore[call-overload]
            # the mailer spools each library's message (no SMTP host configured)
            await procs.wait_for(lambda: _spooled(pool, 2))
            assert sorted(p.name for p in (tmp_path / "outbox").iterdir() if p.suffix == ".eml")
            codes = [await worker.stop(), await mailer.stop(), await web.stop()]
    assert codes == [0, 0, 0], [worker.log, mailer.log, web.log]
    for p in (worker, mailer, web):
        assert "Traceback" not in p.log, p.log
    assert await procs.processes(pool) == []  # each removed its row as it stopped


async def _three(pool: asyncpg.Pool) -> list[asyncpg.Record] | None:
    rows = await procs.processes(pool)
    return rows if len(rows) == 3 else None


async def _done(pool: asyncpg.Pool, delivery_id: int) -> str | None:
    status = await _status(pool, delivery_id)
    return status if status in ("done", "failed") else None


async def _spooled(pool: asyncpg.Pool, count: int) -> bool:
    async with pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT count(*) FROM notifications WHERE status = 'spooled'") >= count)


async def test_sigterm_mid_delivery_hands_it_back(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        world = await seed_registry(conn)
    environ = procs.env(db_url, tmp_path, FORVARV_BATCH_SIZE="50")
    total = 3000
    body = synthetic.delivery(total, ["Sods", "Nyks", "Li"], seed=7)
    async with procs.running("web", environ) as web, aiohttp.ClientSession() as session:
        delivery_id = int(str((await _post(session, web, world.supplier_token, body))["id"]))
        async with procs.running("worker", environ) as first:
            await procs.wait_for(lambda: _loaded(pool, delivery_id, 200), every=0.02)
            assert await first.stop(signal.SIGTERM) == 0, first.log
        assert "handed back" in first.log, first.log
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT status, attempts FROM deliveries WHERE id = $1", delivery_id)
        done_before = await _loaded(pool, delivery_id, 0)
        # it stopped at a batch boundary, before the end; the stop is not counted as a failed attempt
        assert (row["status"], row["attempts"]) == ("processing", 0)
        assert 0 < done_before < 2 * total
        async with procs.running("worker", environ) as second:
            assert await procs.wait_for(lambda: _done(pool, delivery_id), within=300) == "done"
            assert await second.stop() == 0
        assert f"resuming after {done_before} records" in second.log, second.log
    async with pool.acquire() as conn:
        positions = await conn.fetchval(
            "SELECT count(*) FROM delivery_records WHERE delivery_id = $1 AND kind = 'bib'", delivery_id)
        distinct = await conn.fetchval(
            "SELECT count(DISTINCT position) FROM delivery_records WHERE delivery_id = $1 AND kind = 'bib'",
            delivery_id)
        bibs = await conn.fetchval("SELECT count(*) FROM bib_records")
        attempts = await conn.fetchval("SELECT attempts FROM deliveries WHERE id = $1", delivery_id)
    assert positions == distinct == total  # nothing lost, nothing twice
    assert bibs == total
    assert attempts == 1


async def _loaded(pool: asyncpg.Pool, delivery_id: int, at_least: int) -> int | None:
    async with pool.acquire() as conn:
        n = int(await conn.fetchval("SELECT count(*) FROM delivery_records WHERE delivery_id = $1", delivery_id))
    return n if n > at_least or (at_least == 0 and n) else None


async def test_a_killed_process_expires(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    environ = procs.env(db_url, tmp_path)
    async with procs.running("worker", environ) as doomed, procs.running("mailer", environ) as survivor:
        rows = await procs.wait_for(lambda: _pids(pool, {doomed.pid, survivor.pid}))
        assert rows == {doomed.pid, survivor.pid}
        assert await doomed.stop(signal.SIGKILL) == -signal.SIGKILL
        # its row stays until it is older than six beats, then the survivor's beat deletes it
        await procs.wait_for(lambda: _gone(pool, doomed.pid))
        assert await _pids(pool, {survivor.pid}) == {survivor.pid}
        assert await survivor.stop() == 0


async def _pids(pool: asyncpg.Pool, want: set[int]) -> set[int] | None:
    async with pool.acquire() as conn:
        pids = {r["pid"] for r in await conn.fetch("SELECT pid FROM processes")}
    return pids if want <= pids else None


async def _gone(pool: asyncpg.Pool, pid: int) -> bool:
    async with pool.acquire() as conn:
        return not await conn.fetchval("SELECT count(*) FROM processes WHERE pid = $1", pid)
