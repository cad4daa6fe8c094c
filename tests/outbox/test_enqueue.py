"""The transactional outbox: what enqueue_for_delivery writes, and that it commits with the load."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from gateway.outbox import queue as outbox
from tests.outbox import seed
from tests.outbox.seed import Title


async def _world(conn: asyncpg.Connection) -> int:
    sid = await seed.supplier(conn)
    await seed.library(conn, "Sods", "Södertörns högskolebibliotek")
    await seed.library(conn, "Li", "Linköpings stadsbibliotek", language="en")
    return sid


async def test_one_notification_per_library_with_every_outcome(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        sid = await _world(conn)
        did = await seed.delivery(
            conn,
            sid,
            [
                Title("Pippi Långstrump", "created", [("Sods", "added"), ("Li", "added")]),
                Title("Mio, min Mio", "matched", [("Sods", "added")]),
                Title("Emil i Lönneberga", "updated", [("Sods", "updated"), ("Li", "deleted")]),
                Title(
                    "Ronja rövardotter",
                    "rejected",
                    [("Sods", "rejected")],
                    isbn="9789129688320",
                    errors=[{"code": "ISBN_INVALID", "message": "020 $a is not a valid ISBN"}],
                ),
                Title("Bröderna Lejonhjärta", "matched", [("Nobody", "rejected"), ("Sods", "unchanged")]),
            ],
        )
        async with conn.transaction():
            count = await outbox.enqueue_for_delivery(conn, did)
        rows = await conn.fetch(
            "SELECT sigel, status, item_count, content::text AS c FROM notifications ORDER BY sigel"
        )
    assert count == 2
    assert [(r["sigel"], r["status"], r["item_count"]) for r in rows] == [
        ("Li", "pending", 2),
        ("Sods", "pending", 4),
    ]
    sods = json.loads(rows[1]["c"])["deliveries"][0]
    assert sods["id"] == did
    assert sods["supplier_code"] == "BTJ"
    assert sods["supplier_name"] == "BTJ Sverige AB"
    assert [(i["title"], i["outcome"]) for i in sods["items"]] == [
        ("Pippi Långstrump", "created"),
        ("Mio, min Mio", "matched"),
        ("Emil i Lönneberga", "holdings_updated"),
        ("Ronja rövardotter", "rejected"),
    ]
    pippi, _, _, ronja = sods["items"]
    assert pippi["author"] == "Lindgren, Astrid"
    assert pippi["isbn"] == "9789129688313"
    assert isinstance(pippi["record_id"], int)
    assert ronja["record_id"] is None
    assert ronja["isbn"] == "9789129688320"
    assert [r["code"] for r in ronja["reasons"]] == ["HOLDING_PARENT_REJECTED", "ISBN_INVALID"]
    li = json.loads(rows[0]["c"])["deliveries"][0]
    assert [(i["title"], i["outcome"]) for i in li["items"]] == [
        ("Pippi Långstrump", "created"),
        ("Emil i Lönneberga", "cancelled"),
    ]


async def test_rolled_back_load_leaves_no_notification(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        sid = await _world(conn)
        did = await seed.delivery(conn, sid, [Title("Pippi", "created", [("Sods", "added")])])
        tx = conn.transaction()
        await tx.start()
        await conn.execute("UPDATE deliveries SET status = 'done' WHERE id = $1", did)
        assert await outbox.enqueue_for_delivery(conn, did) == 1
        await tx.rollback()  # the load failed after all
        assert await conn.fetchval("SELECT count(*) FROM notifications") == 0


async def test_enqueue_is_idempotent_and_needs_a_delivery(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        sid = await _world(conn)
        did = await seed.delivery(conn, sid, [Title("Pippi", "created", [("Sods", "added")])])
        assert await outbox.enqueue_for_delivery(conn, did) == 1
        assert await outbox.enqueue_for_delivery(conn, did) == 0
        assert await conn.fetchval("SELECT count(*) FROM notifications") == 1
        with pytest.raises(LookupError):
            await outbox.enqueue_for_delivery(conn, did + 1000)


async def test_nothing_to_tell(pool: asyncpg.Pool) -> None:
    """Bib-only deliveries, unchanged holdings and unknown or missing sigels write nothing."""
    async with pool.acquire() as conn:
        sid = await _world(conn)
        did = await seed.delivery(
            conn,
            sid,
            [
                Title("Only a record", "created"),
                Title("Unchanged", "matched", [("Sods", "unchanged")]),
                Title("Unknown library", "matched", [("XYZ", "rejected")]),
            ],
        )
        await conn.execute(
            "INSERT INTO delivery_records (delivery_id, position, kind, outcome, errors) "
            "VALUES ($1, 99, 'holding', 'rejected', '[]')",
            did,
        )
        assert await outbox.enqueue_for_delivery(conn, did) == 0


async def test_works_on_a_connection_without_json_codecs(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        sid = await _world(conn)
        did = await seed.delivery(conn, sid, [Title("Pippi", "created", [("Sods", "added")])])
        assert await outbox.enqueue_for_delivery(conn, did) == 1
    finally:
        await conn.close()


async def test_digest_and_no_address(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        sid = await _world(conn)
        await seed.library(conn, "Dig", "Digestbiblioteket", digest=True)
        await seed.library(conn, "Tyst", "Tysta biblioteket", emails=[])
        d1 = await seed.delivery(conn, sid, [Title("A", "created", [("Dig", "added"), ("Tyst", "added")])])
        d2 = await seed.delivery(conn, sid, [Title("B", "created", [("Dig", "added"), ("Sods", "added")])])
        for did in (d1, d2):
            await outbox.enqueue_for_delivery(conn, did)
        rows = await conn.fetch("SELECT id, sigel, status, last_error FROM notifications ORDER BY id")
        assert [(r["sigel"], r["status"]) for r in rows] == [
            ("Dig", "held"),
            ("Tyst", "skipped"),
            ("Dig", "held"),
            ("Sods", "pending"),
        ]
        assert rows[1]["last_error"] == outbox.NO_ADDRESS

        # Not before the day is over (Swedish time) …
        assert await outbox.build_digests(conn) == 0
        # … then one digest carries both deliveries.
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        assert await outbox.build_digests(conn, now=tomorrow) == 1
        assert await outbox.build_digests(conn, now=tomorrow) == 0
        digest = await conn.fetchrow(
            "SELECT id, status, item_count, content::text AS c FROM notifications WHERE kind = 'digest'"
        )
        assert digest["status"] == "pending"
        assert digest["item_count"] == 2
        assert [d["id"] for d in json.loads(digest["c"])["deliveries"]] == [d1, d2]
        held = await conn.fetch(
            "SELECT status, digest_id FROM notifications WHERE sigel = 'Dig' AND kind = 'delivery'"
        )
        assert {(r["status"], r["digest_id"]) for r in held} == {("digested", digest["id"])}


async def test_digest_day_is_swedish(pool: asyncpg.Pool) -> None:
    """A row from 23:30 UTC on a winter day belongs to the next Swedish day."""
    async with pool.acquire() as conn:
        sid = await _world(conn)
        await seed.library(conn, "Dig", digest=True)
        did = await seed.delivery(conn, sid, [Title("A", "created", [("Dig", "added")])])
        await outbox.enqueue_for_delivery(conn, did)
        await conn.execute("UPDATE notifications SET created_at = '2025-01-14 23:30+00'")
        assert await outbox.build_digests(conn, now=datetime(2025, 1, 15, 22, 59, tzinfo=UTC)) == 0
        assert await outbox.build_digests(conn, now=datetime(2025, 1, 15, 23, 0, tzinfo=UTC)) == 1


async def test_list_and_resend(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        sid = await _world(conn)
        did = await seed.delivery(conn, sid, [Title("A", "created", [("Sods", "added"), ("Li", "added")])])
        await outbox.enqueue_for_delivery(conn, did)
        rows = await outbox.list_notifications(conn)
        assert sorted(r["sigel"] for r in rows) == ["Li", "Sods"]
        assert rows[0]["id"] > rows[1]["id"]  # newest first
        assert await outbox.list_notifications(conn, statuses=["failed"]) == []
        with pytest.raises(ValueError, match="unknown status"):
            await outbox.list_notifications(conn, statuses=["lost"])
        sods = next(r["id"] for r in rows if r["sigel"] == "Sods")
        await conn.execute("UPDATE notifications SET status = 'sent', attempts = 1 WHERE id = $1", sods)
        assert await outbox.resend(conn, sods) is outbox.ResendResult.QUEUED
        row = await outbox.get(conn, sods)
        assert row is not None
        assert (row["status"], row["attempts"], row["resends"]) == ("pending", 0, 1)
        await conn.execute("UPDATE notifications SET status = 'sending' WHERE id = $1", sods)
        assert await outbox.resend(conn, sods) is outbox.ResendResult.IN_FLIGHT
        assert await outbox.resend(conn, 999999) is outbox.ResendResult.NOT_FOUND
