"""gateway.registry's mutators called directly: every value is checked before SQL, a change is one
statement (refused whole), and a registry row removed under a change is NotFound, not a database error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from gateway import registry
from gateway.errors import Invalid, NotFound
from tests.intake.helpers import World


async def row(conn: asyncpg.Connection, sigel: str) -> tuple[object, ...]:
    return tuple(await conn.fetchrow("SELECT * FROM libraries WHERE sigel = $1", sigel))


@pytest.mark.parametrize(("changes", "field"), [
    ({"name": "Changed", "registered": "yes"}, "registered"),
    ({"language": "en", "digest": 1}, "digest"),
    ({"digest": True, "emails": "a@example.org"}, "emails"),  # a string is not a list of addresses
    ({"digest": True, "emails": ["a@example.org", None]}, "emails"),
    ({"digest": True, "name": None}, "name"),
    ({"digest": True, "name": "a\x00b"}, "name"),
    ({"digest": True, "language": ["en"]}, "language"),
    ({"digest": True, "sigel": "New"}, "sigel"),  # the key is not a keyword clash but an unknown field
    ({"digest": True, "conn": None}, "conn"),
])
async def test_update_library_checks_every_value_before_changing_anything(
        pool: asyncpg.Pool, world: World, changes: dict[str, object], field: str) -> None:
    async with pool.acquire() as conn:
        before = await row(conn, "Sods")
        with pytest.raises(Invalid) as refused:
            await registry.update_library(conn, "Sods", **changes)
        assert refused.value.detail == {"field": field} and field in refused.value.message
        assert await row(conn, "Sods") == before


async def test_update_library_refused_by_the_schema_is_refused_whole(pool: asyncpg.Pool, world: World) -> None:
    """Inside the caller's transaction too: the refused change is undone, the caller's work is not."""
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE libraries ADD CONSTRAINT libraries_name_not_x CHECK (name <> 'X')")
        before = await row(conn, "Sods")
        with pytest.raises(Invalid, match="libraries_name_not_x"):
            await registry.update_library(conn, "Sods", language="en", digest=True, name="X")
        assert await row(conn, "Sods") == before
        async with conn.transaction():
            await registry.update_library(conn, "Li", digest=True)
            with pytest.raises(Invalid):
                await registry.update_library(conn, "Sods", language="en", name="X")
            await registry.update_library(conn, "Nyks", language="en")
        assert await row(conn, "Sods") == before
        assert (await registry.get_library(conn, "Li"))["digest"] is True
        assert (await registry.get_library(conn, "Nyks"))["language"] == "en"


async def test_update_library_changes_several_fields_at_once(pool: asyncpg.Pool, world: World) -> None:
    async with pool.acquire() as conn:
        lib = await registry.update_library(conn, "Sods", name=" Nytt ", emails=("x@example.org",),
                                            language="en", registered=False, digest=True)
        assert lib == {"sigel": "Sods", "name": "Nytt", "emails": ["x@example.org"], "language": "en",
                       "registered": False, "digest": True}
        assert await registry.get_library(conn, "Sods") == lib
        with pytest.raises(NotFound):
            await registry.update_library(conn, "Nope", digest=True)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"registered": "no"}, "registered"),
    ({"digest": None}, "digest"),
    ({"language": 5}, "language"),
    ({"name": ""}, "name"),
    ({"name": "x\x00"}, "name"),
    ({"sigel": "N\x00y"}, "sigel"),
    ({"sigel": 5}, "sigel"),
    ({"emails": "ny@example.org"}, "emails"),
])
async def test_add_library_checks_every_value(pool: asyncpg.Pool, kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"sigel": "Ny", "name": "Ny", "emails": ["ny@example.org"], **kwargs}
    async with pool.acquire() as conn:
        with pytest.raises(Invalid) as refused:
            await registry.add_library(conn, **args)  # type: ignore[arg-type]
        assert refused.value.detail == {"field": field}
        assert await conn.fetchval("SELECT count(*) FROM libraries") == 0


@pytest.mark.parametrize(("code", "name", "field"), [("NY\x00", "Ny", "code"), ("NY", "N\x00y", "name"),
                                                     ("NY", "", "name"), ("NY", None, "name")])
async def test_add_supplier_checks_every_value(pool: asyncpg.Pool, code: str, name: str, field: str) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(Invalid) as refused:
            await registry.add_supplier(conn, code, name)
        assert refused.value.detail == {"field": field}
        assert await conn.fetchval("SELECT count(*) FROM suppliers") == 0


@pytest.mark.parametrize("token_id", [2**63, -(2**63) - 1, 0, -1])
async def test_revoking_a_token_id_out_of_range_is_not_found(pool: asyncpg.Pool, world: World,
                                                             token_id: int) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(NotFound, match=f"no active token {token_id}"):
            await registry.revoke_token(conn, "BOKR", token_id)
        assert await conn.fetchval("SELECT count(*) FROM supplier_tokens WHERE revoked_at IS NOT NULL") == 0


async def _while_removed(pool: asyncpg.Pool, remove: str,
                         change: Callable[[asyncpg.Connection], Awaitable[object]]) -> Exception | None:
    """Run `change` while another transaction removes a registry row; the removal commits once the
    change waits on its lock. What the change raised, if anything."""
    async with pool.acquire() as remover, pool.acquire() as changer:
        tx = remover.transaction()
        await tx.start()
        await remover.execute(remove)
        task = asyncio.ensure_future(change(changer))
        waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = $1"
        async with asyncio.timeout(10):
            while not await remover.fetchval(waiting, changer.get_server_pid()):  # noqa: ASYNC110 - a poll
                await asyncio.sleep(0.01)
        await tx.commit()
        try:
            await task
        except Exception as exc:  # handed to the test to judge
            return exc
        return None


async def test_a_token_for_a_supplier_removed_meanwhile_is_not_found(pool: asyncpg.Pool, world: World) -> None:
    async with pool.acquire() as conn:
        await registry.add_supplier(conn, "GONE", "Soon removed")
    exc = await _while_removed(pool, "DELETE FROM suppliers WHERE code = 'GONE'",
                               lambda c: registry.create_token(c, "GONE"))
    assert isinstance(exc, NotFound) and "GONE" in exc.message
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM suppliers WHERE code = 'GONE'") == 0


async def test_a_customer_link_to_a_library_removed_meanwhile_is_not_found(
        pool: asyncpg.Pool, world: World) -> None:
    exc = await _while_removed(pool, "DELETE FROM libraries WHERE sigel = 'Other'",
                               lambda c: registry.add_customer(c, "BOKR", "Other"))
    assert isinstance(exc, NotFound) and "Other" in exc.message
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM customers WHERE sigel = 'Other'") == 0
