"""Retention (`forvarv prune`, gateway/intake/retention.py): what a pruned delivery's report and
console page say, what is kept (summary, provenance, anything an open review item or an unsent
notification needs), --dry-run, and a prune killed part-way then finished by the next run."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from gateway.intake import retention
from tests.console.helpers import sign_in
from tests.intake.helpers import ADMIN_TOKEN, World, deliver
from tests.intake.marcxml import bib, collection, holding
from tests.intake.review_world import ADMIN, record, scene
from tests.intake.test_registry import forvarv

PROJECT = Path(__file__).resolve().parents[2]


async def load(client: TestClient, world: World, n: int, tag: str) -> dict[str, Any]:
    records = []
    for i in range(n):
        records += [bib(own_id=f"{tag}{i}", isbn=[], title=f"Bok {tag} {i}"), holding("Sods"), holding("Nyks")]
    status, report = await deliver(client, world.supplier_token, collection(*records))
    assert status == 200 and report["status"] == "done", report
    return report


async def age(pool: asyncpg.Pool, days: int, *, sent: bool = True) -> None:
    """Every delivery finished `days` ago; its notifications sent (unless told otherwise)."""
    async with pool.acquire() as conn:
        await conn.execute("UPDATE deliveries SET finished_at = now() - make_interval(days => $1)", days)
        if sent:
            await conn.execute("UPDATE notifications SET status = 'sent' WHERE status IN ('pending', 'held')")
            await conn.execute("UPDATE webhook_events SET status = 'sent' WHERE status = 'pending'")


async def history(pool: asyncpg.Pool, delivery_id: str) -> tuple[int, int, Any, Any, bool]:
    async with pool.acquire() as conn:
        chunks = await conn.fetchval("SELECT count(*) FROM delivery_chunks WHERE delivery_id = $1", int(delivery_id))
        rows = await conn.fetchval("SELECT count(*) FROM delivery_records WHERE delivery_id = $1", int(delivery_id))
        d = await conn.fetchrow("SELECT payload_pruned_at, results_pruned_at, pruning FROM deliveries WHERE id = $1",
                                int(delivery_id))
    return chunks, rows, d["payload_pruned_at"], d["results_pruned_at"], d["pruning"]


async def test_a_pruned_delivery_says_what_was_removed(client: TestClient, pool: asyncpg.Pool, world: World) -> None:
    done = await load(client, world, 3, "P")
    rid = done["records"][0]["record_id"]
    await age(pool, 40)
    before = (await record(client, rid))["provenance"]
    assert [e["delivery_id"] for e in before if e["kind"] == "delivery"] == [done["id"]]
    async with pool.acquire() as conn:
        kept = await retention.prune(conn, payload_days=50, results_days=0)
        assert kept.deliveries == 0  # 40 days old, 50 kept: nothing
        out = await retention.prune(conn, payload_days=30, results_days=30)
    assert (out.deliveries, out.payloads, out.results, out.result_rows) == (1, 1, 1, 6)  # 6 holdings
    assert out.payload_bytes > 0 and out.result_bytes > 0
    chunks, rows, payload_at, results_at, pruning = await history(pool, done["id"])
    assert (chunks, rows, pruning) == (0, 3, False)  # the three rows provenance reads stay
    async with pool.acquire() as conn:  # with what provenance reads, not what only the report showed
        kept = await conn.fetch("SELECT * FROM delivery_records WHERE delivery_id = $1", int(done["id"]))
    assert {(r["kind"], r["outcome"], r["identifiers"] == [], r["supplier_id"]) for r in kept} == {
        ("bib", "created", True, None)}
    assert sorted(r["title"] for r in kept) == ["Bok P 0", "Bok P 1", "Bok P 2"]
    assert payload_at is not None and results_at is not None

    resp = await client.get(f"/deliveries/{done['id']}", headers=ADMIN)
    assert resp.status == 200
    report = await resp.json()
    assert report["summary"] == done["summary"]
    assert report["records"] == []
    assert report["pruned"]["payload"]["after_days"] == 40
    assert "original file was removed after 40 days" in report["pruned"]["payload"]["note"]
    assert "per-record results were removed after 40 days" in report["pruned"]["results"]["note"]
    # provenance stays true
    assert (await record(client, rid))["provenance"] == before

    await sign_in(client, ADMIN_TOKEN)
    page = await client.get(f"/console/deliveries/{done['id']}", headers={"Accept-Language": "en"})
    html = await page.text()
    assert page.status == 200, html
    assert "The original file was removed 40 days after the delivery" in html
    assert "The per-record results were removed 40 days after the delivery" in html
    assert f"/console/deliveries/{done['id']}/payload" not in html
    assert "Bok P 1" not in html  # no rows listed from what provenance keeps
    gone = await client.get(f"/console/deliveries/{done['id']}/payload", headers={"Accept-Language": "en"})
    assert gone.status == 410
    assert "The original file was removed 40 days after" in await gone.text()
    again = await client.get(f"/console/deliveries/{done['id']}/report.json")
    assert (await again.json())["pruned"] == report["pruned"]


async def test_dry_run_changes_nothing(client: TestClient, pool: asyncpg.Pool, world: World, db_url: str) -> None:
    done = await load(client, world, 2, "D")
    await age(pool, 10)
    before = await history(pool, done["id"])
    async with pool.acquire() as conn:
        out = await retention.prune(conn, payload_days=5, results_days=5, dry_run=True)
    assert (out.deliveries, out.payloads, out.results, out.result_rows) == (1, 1, 1, 4)
    assert out.payload_bytes > 0 and out.result_bytes > 0
    rc, text, err = await forvarv(db_url, "prune", "--payloads-older-than", "5", "--results-older-than", "5",
                                  "--dry-run")
    assert rc == 0, err
    assert f"delivery {done['id']} (BOKR" in text and "would remove" in text
    assert await history(pool, done["id"]) == before
    rc, text, err = await forvarv(db_url, "prune")  # no days given or set: keep everything
    assert rc == 0, err
    assert "kept" in text
    assert await history(pool, done["id"]) == before


async def test_unsent_notifications_and_unfinished_deliveries_keep_their_history(
    client: TestClient, pool: asyncpg.Pool, world: World,
) -> None:
    done = await load(client, world, 1, "N")
    await age(pool, 10, sent=False)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM notifications WHERE status = 'pending'") > 0
        assert (await retention.prune(conn, payload_days=5, results_days=5)).deliveries == 0
        await conn.execute("UPDATE notifications SET status = 'sent'")
        await conn.execute("UPDATE deliveries SET status = 'processing'")
        assert (await retention.prune(conn, payload_days=5, results_days=5)).deliveries == 0
        await conn.execute("UPDATE deliveries SET status = 'done'")
        assert (await retention.prune(conn, payload_days=5, results_days=0)).payloads == 1
    chunks, rows, payload_at, results_at, _ = await history(pool, done["id"])
    assert chunks == 0 and payload_at is not None
    assert rows == 3 and results_at is None  # results kept: only the payload was asked for


async def test_an_open_review_item_keeps_working_on_an_old_delivery(
    client: TestClient, pool: asyncpg.Pool, world: World,
) -> None:
    s = await scene(client, world)
    await age(pool, 400)
    async with pool.acquire() as conn:
        out = await retention.prune(conn, payload_days=30, results_days=30)
    assert out.deliveries == 2  # the two before; not the one whose item is open
    chunks, rows, payload_at, results_at, _ = await history(pool, s.delivery)
    assert chunks > 0 and rows == 2 and payload_at is None and results_at is None
    item = await client.get(f"/admin/review/{s.item}", headers=ADMIN)
    assert item.status == 200 and (await item.json())["title"] == "Inkommande titel"
    resp = await client.post(f"/admin/review/{s.item}/resolve", headers=ADMIN, json={"action": "separate", "by": "Kim"})
    assert resp.status == 200, await resp.text()
    separated = (await resp.json())["record_id"]
    assert separated not in (s.a, s.b)
    # settled: its delivery can go now, and the records' histories read the same after it
    histories = [(await record(client, r))["provenance"] for r in (s.a, s.b, separated)]
    assert s.delivery in [e.get("delivery_id") for e in histories[0]]
    assert "separate" in [e.get("action") for e in histories[2]]
    async with pool.acquire() as conn:
        assert (await retention.prune(conn, payload_days=30, results_days=30)).deliveries == 1
    assert await history(pool, s.delivery) != (chunks, rows, None, None, False)
    assert [(await record(client, r))["provenance"] for r in (s.a, s.b, separated)] == histories
    settled = await client.get(f"/admin/review/{s.item}", headers=ADMIN)
    assert settled.status == 200 and (await settled.json())["title"] == "Inkommande titel"


async def until(conn: asyncpg.Connection, query: str, *args: Any) -> Any:
    """The query's value once it has one (polled; a minute at most)."""
    async with asyncio.timeout(60):
        while True:
            value = await conn.fetchval(query, *args)
            if value:
                return value
            await asyncio.sleep(0.05)


async def test_a_prune_killed_part_way_is_finished_by_the_next_run(
    client: TestClient, pool: asyncpg.Pool, world: World, db_url: str,
) -> None:
    done = await load(client, world, 8, "K")  # 24 positions: 8 bibliographic, 16 holdings
    await age(pool, 60)
    did = int(done["id"])
    async with pool.acquire() as conn:
        holdings = [r["position"] for r in await conn.fetch(
            "SELECT position FROM delivery_records WHERE delivery_id = $1 AND kind = 'holding' ORDER BY position", did)]
    blocker = await asyncpg.connect(db_url)
    tx = blocker.transaction()
    await tx.start()
    # a row of the fourth batch of 4 positions is held: the run waits there, three batches done
    held = next(p for p in holdings if p >= min(holdings) + 12)
    await blocker.execute("SELECT 1 FROM delivery_records WHERE delivery_id = $1 AND position = $2 FOR UPDATE",
                          did, held)
    env = {**os.environ, "FORVARV_DATABASE_URL": db_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "prune", "--payloads-older-than", "30", "--results-older-than", "30",
        "--batch-positions", "4", cwd=PROJECT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    watcher = await asyncpg.connect(db_url)  # pg_stat_activity is read once per transaction
    try:
        backend = await until(watcher, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                       " AND query LIKE '%delivery_records%' AND datname = current_database()")
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        assert await watcher.fetchval("SELECT pg_terminate_backend($1)", backend)
    finally:
        await tx.rollback()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    await until(watcher, "SELECT true WHERE NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)", backend)
    await blocker.close()
    await watcher.close()

    chunks, rows, payload_at, results_at, pruning = await history(pool, done["id"])
    assert pruning and payload_at is not None and results_at is not None and chunks == 0
    gone = [p for p in holdings if p < held // 4 * 4]  # the holdings of the batches before the held row's
    assert gone and rows == 24 - len(gone)  # are gone, the rest still there
    report = await (await client.get(f"/deliveries/{did}", headers=ADMIN)).json()
    assert report["records"] == [] and "results" in report["pruned"]  # told, never a partial list

    rc, text, err = await forvarv(db_url, "prune", "--dry-run")  # says what is left, changes nothing
    assert rc == 0, err
    assert f"delivery {did} (BOKR" in text and "would remove" in text and "left by a stopped run" in text
    assert await history(pool, done["id"]) == (chunks, rows, payload_at, results_at, pruning)
    rc, text, err = await forvarv(db_url, "prune")  # no days: only finishes what was left
    assert rc == 0, err
    assert "left by a stopped run" in text
    chunks, rows, _, _, pruning = await history(pool, done["id"])
    assert (chunks, rows, pruning) == (0, 8, False)
