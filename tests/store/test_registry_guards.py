"""Registry references without hot-path foreign keys (migration 0005): the guards on the parent side.

Deliveries are loaded through the real HTTP path and loader; the registry is then changed through
gateway.registry where it offers the change, and with plain SQL where it does not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient as _TestClient

from gateway import registry
from gateway.errors import Conflict
from tests.intake.helpers import World, deliver
from tests.intake.marcxml import bib, collection, holding

TestClient = _TestClient[web.Request, web.Application]

DROPPED = {
    ("bib_records", "supplier_id"),
    ("bib_suppliers", "supplier_id"),
    ("holdings", "supplier_id"),
    ("holdings", "sigel"),
    ("delivery_records", "delivery_id"),
}
KEPT = {
    ("bib_identifiers", "bib_id", "bib_records"),
    ("bib_suppliers", "bib_id", "bib_records"),
    ("holdings", "bib_id", "bib_records"),
    ("review_items", "bib_id", "bib_records"),
    ("deliveries", "supplier_id", "suppliers"),
    ("supplier_tokens", "supplier_id", "suppliers"),
    ("customers", "supplier_id", "suppliers"),
    ("customers", "sigel", "libraries"),
    ("notifications", "sigel", "libraries"),
    ("delivery_chunks", "delivery_id", "deliveries"),
    ("review_items", "delivery_id", "deliveries"),
}


async def load(client: TestClient, world: World, own_id: str, isbn: str, *sigels: str) -> int:
    """One delivery of one bibliographic record with a holding per sigel; its id."""
    status, report = await deliver(client, world.supplier_token,
                                   collection(bib(own_id=own_id, isbn=[isbn]), *(holding(s) for s in sigels)))
    assert status == 200, report
    assert [h["outcome"] for h in report["records"][0]["holdings"]] == ["added"] * len(sigels)
    return int(report["id"])


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    queries = {
        "libraries": "SELECT sigel FROM libraries ORDER BY 1",
        "suppliers": "SELECT id, code FROM suppliers ORDER BY 1",
        "tokens": "SELECT id, supplier_id, revoked_at FROM supplier_tokens ORDER BY 1",
        "customers": "SELECT supplier_id, sigel FROM customers ORDER BY 1, 2",
        "holdings": "SELECT id, bib_id, sigel, supplier_id FROM holdings ORDER BY 1",
        "bib_records": "SELECT id, supplier_id FROM bib_records ORDER BY 1",
        "bib_suppliers": "SELECT bib_id, supplier_id FROM bib_suppliers ORDER BY 1, 2",
        "notifications": "SELECT id, sigel FROM notifications ORDER BY 1",
    }
    return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in queries.items()}


async def test_hot_path_foreign_keys_dropped_and_the_rest_kept(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT c.conrelid::regclass::text AS child, a.attname AS col, c.confrelid::regclass::text AS parent
                 FROM pg_constraint c
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                WHERE c.contype = 'f'""")
    fks = {(r["child"], r["col"], r["parent"]) for r in rows}
    assert not {(child, col) for child, col, _ in fks} & DROPPED
    assert fks >= KEPT


async def test_removing_a_library_with_holdings_is_refused(client: TestClient, world: World,
                                                           pool: asyncpg.Pool) -> None:
    await load(client, world, "1", "9789127108509", "Sods", "Nyks")
    async with pool.acquire() as conn:
        before = await snapshot(conn)
        assert {h[2] for h in before["holdings"]} == {"Sods", "Nyks"}
        with pytest.raises(Conflict, match="has holdings"):
            await registry.remove_library(conn, "Sods")
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="library Nyks still has holdings"):
            await conn.execute("DELETE FROM libraries WHERE sigel = 'Nyks'")
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="still have holdings"):
            await conn.execute("TRUNCATE libraries CASCADE")
        assert await snapshot(conn) == before
        # Tombstones count too, as they did for the foreign key.
        await conn.execute("UPDATE holdings SET deleted = true WHERE sigel = 'Sods'")
        with pytest.raises(Conflict):
            await registry.remove_library(conn, "Sods")
        assert await conn.fetchval("SELECT count(*) FROM libraries WHERE sigel = 'Sods'") == 1


async def test_removing_a_library_without_holdings_works(client: TestClient, world: World,
                                                         pool: asyncpg.Pool) -> None:
    await load(client, world, "1", "9789127108509", "Sods")
    async with pool.acquire() as conn:
        await registry.remove_library(conn, "Other")
        await registry.remove_library(conn, "Li")  # a customer of BOKR, without holdings
        after = await snapshot(conn)
    assert [r[0] for r in after["libraries"]] == ["G", "Nyks", "Sods", "Unreg"]
    assert {r[1] for r in after["customers"]} == {"G", "Nyks", "Sods", "Unreg"}  # the link went with it
    assert [h[2] for h in after["holdings"]] == ["Sods"]


async def test_renaming_a_sigel_carries_the_holdings_along(client: TestClient, world: World,
                                                           pool: asyncpg.Pool) -> None:
    await load(client, world, "1", "9789127108509", "Sods", "Nyks")
    await load(client, world, "2", "9789100000004", "Sods")
    async with pool.acquire() as conn:
        before = await snapshot(conn)
        # The registry offers no rename (update_library changes name, contacts and flags), so plain SQL.
        await conn.execute("UPDATE libraries SET sigel = 'Sodx' WHERE sigel = 'Sods'")
        await conn.execute("UPDATE libraries SET name = 'Nyköping' WHERE sigel = 'Nyks'")
        after = await snapshot(conn)
        with pytest.raises(Conflict):
            await registry.remove_library(conn, "Sodx")

    def renamed(rows: list[tuple[object, ...]], col: int) -> list[tuple[object, ...]]:
        return [(*r[:col], "Sodx" if r[col] == "Sods" else r[col], *r[col + 1:]) for r in rows]

    assert sum(h[2] == "Sods" for h in before["holdings"]) == 2
    assert after["holdings"] == renamed(before["holdings"], 2)
    assert after["customers"] == sorted(renamed(before["customers"], 1))
    assert after["notifications"] == renamed(before["notifications"], 1)
    assert after["bib_records"] == before["bib_records"]


async def test_removing_a_supplier_with_deliveries_is_refused(client: TestClient, world: World,
                                                              pool: asyncpg.Pool) -> None:
    await load(client, world, "1", "9789127108509", "Sods")
    async with pool.acquire() as conn:
        before = await snapshot(conn)
        with pytest.raises(Conflict, match="supplier BOKR has deliveries or records"):
            await registry.remove_supplier(conn, "BOKR")
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="supplier BOKR still has records"):
            await conn.execute("DELETE FROM suppliers WHERE code = 'BOKR'")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("TRUNCATE suppliers, deliveries CASCADE")
        assert await snapshot(conn) == before


@pytest.mark.parametrize("table", ["bib_suppliers", "bib_records", "holdings"])
async def test_removing_a_supplier_with_records_but_no_deliveries_is_refused(
        client: TestClient, world: World, pool: asyncpg.Pool, table: str) -> None:
    """Each reference on its own blocks the removal (no delivery behind it to do so instead)."""
    await load(client, world, "1", "9789127108509", "Sods")
    async with pool.acquire() as conn:
        nodel = await registry.add_supplier(conn, "NODEL", "Never delivered")
        bib_id = await conn.fetchval("SELECT id FROM bib_records")
        if table == "bib_suppliers":
            await conn.execute("INSERT INTO bib_suppliers (bib_id, supplier_id) VALUES ($1, $2)", bib_id, nodel.id)
        else:
            await conn.execute(f"UPDATE {table} SET supplier_id = $1", nodel.id)
        before = await snapshot(conn)
        with pytest.raises(Conflict):
            await registry.remove_supplier(conn, "NODEL")
        assert await snapshot(conn) == before
        if table == "bib_suppliers":
            await conn.execute("DELETE FROM bib_suppliers WHERE supplier_id = $1", nodel.id)
        else:
            await conn.execute(f"UPDATE {table} SET supplier_id = NULL")
        await registry.remove_supplier(conn, "NODEL")  # nothing names it any more
        assert await conn.fetchval("SELECT count(*) FROM suppliers WHERE code = 'NODEL'") == 0


async def test_deleting_a_delivery_deletes_its_records(client: TestClient, world: World,
                                                       pool: asyncpg.Pool) -> None:
    first = await load(client, world, "1", "9789127108509", "Sods")
    second = await load(client, world, "2", "9789100000004", "Sods", "Nyks")
    third = await load(client, world, "3", "9789100000011", "G")
    async with pool.acquire() as conn:
        async def per_delivery() -> dict[int, int]:
            rows = await conn.fetch("SELECT delivery_id, count(*) AS n FROM delivery_records GROUP BY 1")
            return {r["delivery_id"]: r["n"] for r in rows}

        assert await per_delivery() == {first: 2, second: 3, third: 2}
        # Holdings point at bib records, not deliveries: they stay; review items would go (kept FK).
        await conn.execute("DELETE FROM deliveries WHERE id = $1", second)
        assert await per_delivery() == {first: 2, third: 2}
        await conn.execute("DELETE FROM deliveries WHERE id = ANY($1::bigint[])", [first, third])
        assert await per_delivery() == {}


async def test_truncating_deliveries_empties_delivery_records(client: TestClient, world: World,
                                                              pool: asyncpg.Pool) -> None:
    await load(client, world, "1", "9789127108509", "Sods")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM delivery_records") == 2
        await conn.execute("TRUNCATE deliveries CASCADE")
        assert await conn.fetchval("SELECT count(*) FROM delivery_records") == 0
        assert await conn.fetchval("SELECT count(*) FROM holdings") == 1


async def test_a_library_removed_while_its_delivery_loads_gets_no_orphan_holdings(
        pool: asyncpg.Pool, world: World) -> None:
    """The loader reads the registry once; a batch written after the library went rejects its holdings."""
    from gateway.intake import batches
    from gateway.intake import receive as intake
    from gateway.intake.context import Context
    from gateway.intake.prepare import prepare_bib, prepare_holding
    from gateway.intake.write_batch import write_batch
    from protocols.marc.xmlreader import read_marcxml

    body = collection(bib(own_id="R-1", isbn=["9789150222319"]), holding("Sods"), holding("Nyks"))
    async with pool.acquire() as conn:
        supplier = await registry.get_supplier(conn, "BOKR")

    async def one() -> AsyncIterator[bytes]:
        yield body

    received = await intake.receive(pool, supplier, one(), content_type="application/xml", max_body=10**6)
    records = list(read_marcxml([body]))
    ctx = Context(received.id, supplier.id, "BOKR", "FORVARV",
                         {"Sods": (True, True), "Nyks": (True, True)})  # as read when loading started
    async with pool.acquire() as conn:
        await registry.remove_library(conn, "Nyks")  # no holdings yet: allowed
    first = records[0]
    assert first.record is not None
    bibs = [batches.BibItem(prepare_bib(1, first.record, first.problems, "BOKR", "FORVARV"))]
    holdings = []
    for r in records[1:]:
        assert r.record is not None
        p = prepare_holding(r.position, r.record, r.problems, "FORVARV")
        holdings.append(batches.HoldingItem(p, errors=p.errors, warnings=p.warnings, parent_position=1))
    await write_batch(pool, ctx, bibs, holdings)
    assert [(h.sigel, h.outcome) for h in holdings] == [("Sods", "added"), ("Nyks", "rejected")]
    assert [e["code"] for e in holdings[1].errors] == ["HOLDING_UNKNOWN_LIBRARY"]
    async with pool.acquire() as conn:
        stored = await conn.fetch("SELECT sigel FROM holdings ORDER BY sigel")
    assert [r["sigel"] for r in stored] == ["Sods"]
