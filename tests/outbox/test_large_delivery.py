"""A large delivery's notifications and webhook events stay linear in its size.

The queries that count a delivery's holdings per library look up each holding's parent bib row
of the same delivery. They run in the transaction that marks the delivery done, when the
statistics of `delivery_records` predate it: its id is outside what ANALYZE saw, so the planner
expects one row on each side. A plain join then became a nested loop that scans the whole
delivery for every holding, filtering on the position (seen at 50,000 records: minutes per
delivery). These tests make exactly that situation (one delivery analysed, a second one new) and
count, with EXPLAIN ANALYZE, the rows the join threw away.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from gateway.outbox import queue as outbox
from gateway.outbox.webhook import queue as webhook_queue
from gateway.store import queries
from tests.outbox import seed

#: Titles per delivery, each with one holding: the old plan threw away about N * N rows.
N = 1500


async def _delivery(conn: asyncpg.Connection, supplier_id: int, n: int) -> int:
    """A done delivery of n created bib rows, each followed by its holding for Sods."""
    did: int = await conn.fetchval(
        """INSERT INTO deliveries (supplier_id, format, sha256, size, record_count, status,
                                   started_at, finished_at)
           VALUES ($1, 'marcxml', $2, 1000, $3, 'done', now(), now()) RETURNING id""",
        supplier_id, b"\x00" * 32, 2 * n,
    )
    await conn.execute(
        """INSERT INTO delivery_records (delivery_id, position, kind, parent_position, outcome, sigel, title)
           SELECT $1::bigint, 2 * i - 1, 'bib', NULL::integer, 'created', NULL::text, 'Titel ' || i
             FROM generate_series(1, $2::integer) i
           UNION ALL
           SELECT $1::bigint, 2 * i, 'holding', 2 * i - 1, 'added', 'Sods', NULL
             FROM generate_series(1, $2::integer) i""",
        did, n,
    )
    return did


def _removed_by_join_filter(plan: dict[str, Any]) -> int:
    own = int(plan.get("Rows Removed by Join Filter", 0)) * max(1, int(plan.get("Actual Loops", 1)))
    return own + sum(_removed_by_join_filter(p) for p in plan.get("Plans", []))


async def _explain(conn: asyncpg.Connection, sql: str, *args: object) -> dict[str, Any]:
    raw = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args)
    plan: dict[str, Any] = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    return plan


async def _two_deliveries(conn: asyncpg.Connection) -> int:
    """The first delivery analysed, the second written after: the second's id."""
    sid = await seed.supplier(conn)
    await seed.library(conn, "Sods", "Södertörns högskolebibliotek")
    await _delivery(conn, sid, N)
    await conn.execute("ANALYZE delivery_records")
    return await _delivery(conn, sid, N)


async def test_counting_a_new_delivery_per_library_looks_each_parent_up(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        did = await _two_deliveries(conn)
        plan = await _explain(conn, queries.load("outbox")["delivery_counts"], did,
                              ["added", "updated", "deleted", "rejected"])
        removed = _removed_by_join_filter(plan)
        async with conn.transaction():
            written = await outbox.enqueue_for_delivery(conn, did)
        item_count = await conn.fetchval("SELECT item_count FROM notifications WHERE delivery_id = $1", did)
    assert removed < N, f"the join threw away {removed:,} rows for {N:,} holdings"
    assert (written, item_count) == (1, N)


async def test_webhook_events_of_a_new_delivery_look_each_parent_up(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        did = await _two_deliveries(conn)
        await conn.execute("INSERT INTO webhooks (sigel, url, secret) VALUES ('Sods', 'https://lms.example/hook', 's')")
        tr = conn.transaction()
        await tr.start()
        plan = await _explain(conn, queries.load("webhook_queue")["insert_events"], did,
                              webhook_queue.EVENT_TYPE, list(webhook_queue.HOLDING_OUTCOMES))
        await tr.rollback()
        removed = _removed_by_join_filter(plan)
        async with conn.transaction():
            written = await webhook_queue.enqueue_for_delivery(conn, did)
        content = await conn.fetchval("SELECT content::text FROM webhook_events WHERE delivery_id = $1", did)
    assert removed < N, f"the join threw away {removed:,} rows for {N:,} holdings"
    assert written == 1
    items = json.loads(content)
    assert len(items) == N
    assert {(i["record_outcome"], i["position"]) for i in items[:2]} == {("created", 1), ("created", 3)}
