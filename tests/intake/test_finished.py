"""Requests waiting for a delivery are woken by the transaction that finishes it (gateway.intake.finished)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway import registry
from gateway.config import Settings
from gateway.demo import synthetic
from gateway.http import deliveries
from gateway.http.app import create_app
from gateway.http.appkeys import FINISHED
from gateway.intake import finished, loader
from gateway.intake import receive as intake
from tests.intake.helpers import ADMIN_TOKEN, seed_registry


@pytest.fixture
async def watch(db_url: str) -> AsyncIterator[finished.Watch]:
    w = finished.Watch()
    await w.start(db_url)
    yield w
    await w.stop()


async def test_a_notification_wakes_only_the_requests_waiting_for_that_delivery(
        pool: asyncpg.Pool, watch: finished.Watch) -> None:
    with watch.watching(41) as other, watch.watching(42) as mine, watch.watching(42) as also_mine:
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_notify($1, 'not a number')", finished.CHANNEL)
            await finished.notify(conn, 42)
        await asyncio.wait_for(mine.wait(), 10)
        await asyncio.wait_for(also_mine.wait(), 10)
        assert not other.is_set()
    assert not watch._waiters  # nothing left behind once the requests are gone


async def test_loading_a_delivery_notifies_when_its_transaction_commits(
        pool: asyncpg.Pool, watch: finished.Watch) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
        supplier = await registry.get_supplier(conn, "BOKR")
    body = synthetic.delivery(5, ["Sods"], seed=12)

    async def one() -> AsyncIterator[bytes]:
        yield body

    received = await intake.receive(pool, supplier, one(), content_type="application/xml", max_body=10**6)
    with watch.watching(received.id) as done:
        assert not done.is_set()
        await loader.load_delivery(pool, received.id, org_code="FORVARV")
        await asyncio.wait_for(done.wait(), 10)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM deliveries WHERE id = $1", received.id) == "done"


# --- POST /deliveries?wait=: the answer given when the wait ends --------------------------------


class _Clock:
    """A monotonic clock for the handler that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@dataclass
class Quiet:
    client: TestClient
    token: str


@pytest.fixture
async def quiet(db_url: str, tmp_path: Path, pool: asyncpg.Pool) -> AsyncIterator[Quiet]:
    """The app without delivery workers: a delivery finishes only when a test loads it."""
    async with pool.acquire() as conn:
        world = await seed_registry(conn)
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN, secret="test-secret")
    app = create_app(settings, database_url=db_url, run_workers=False)
    async with TestClient(TestServer(app)) as c:
        yield Quiet(c, world.supplier_token)


def _wait_ends(monkeypatch: pytest.MonkeyPatch, client: TestClient,
               during_last_wait: Callable[[int], Awaitable[object]]) -> None:
    """Make the handler's next wait its last: `during_last_wait(delivery_id)` runs while it waits,
    then its deadline has passed (the clock jumps) and it is woken, as if by the timeout."""
    clock = _Clock()
    monkeypatch.setattr(deliveries, "time", clock)
    monkeypatch.setattr(deliveries, "RECHECK_SECONDS", 3600.0)  # only the deadline ends a wait
    watch = client.app[FINISHED]

    class LastWait(asyncio.Event):
        def __init__(self, delivery_id: int) -> None:
            super().__init__()
            self.delivery_id = delivery_id

        async def wait(self) -> Literal[True]:
            await during_last_wait(self.delivery_id)
            clock.now += 10**6
            return True

    @contextlib.contextmanager
    def watching(delivery_id: int) -> Iterator[asyncio.Event]:
        yield LastWait(delivery_id)

    monkeypatch.setattr(watch, "watching", watching)


async def _post(quiet: Quiet, wait: str) -> tuple[int, dict[str, Any], str | None]:
    body = synthetic.delivery(3, ["Sods"], seed=5)
    resp = await quiet.client.post(f"/deliveries?wait={wait}", data=body, headers={
        "Authorization": f"Bearer {quiet.token}", "Content-Type": "application/marcxml+xml"})
    return resp.status, await resp.json(), resp.headers.get("Location")


@pytest.mark.parametrize("outcome", ["done", "failed"])
async def test_a_delivery_finished_during_the_last_wait_is_answered_with_its_report(
        quiet: Quiet, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch, outcome: str) -> None:
    async def finish(delivery_id: int) -> None:
        if outcome == "done":
            await loader.load_delivery(pool, delivery_id, org_code="FORVARV")
        else:  # as the workers give a delivery up
            async with pool.acquire() as conn:
                await conn.execute("UPDATE deliveries SET status = 'failed', finished_at = now(), "
                                   "error = 'gave up' WHERE id = $1", delivery_id)

    _wait_ends(monkeypatch, quiet.client, finish)
    status, answer, location = await _post(quiet, "600")
    assert status == 200, answer
    assert location == f"/deliveries/{answer['id']}"
    assert answer["status"] == outcome
    resp = await quiet.client.get(location, headers={"Authorization": f"Bearer {quiet.token}"})
    assert answer.pop("replayed") is False  # what only the POST's answer says
    assert answer == await resp.json()  # the report itself, not the short answer
    assert "summary" in answer


async def test_a_delivery_not_finished_when_the_wait_ends_is_answered_with_its_status(
        quiet: Quiet, monkeypatch: pytest.MonkeyPatch) -> None:
    async def nothing(_delivery_id: int) -> None:
        return None

    _wait_ends(monkeypatch, quiet.client, nothing)
    status, answer, location = await _post(quiet, "600")
    assert status == 202, answer
    assert answer == {"id": answer["id"], "status": "received", "href": f"/deliveries/{answer['id']}",
                      "replayed": False}
    assert location == answer["href"]


async def test_wait_zero_is_no_wait(quiet: Quiet, monkeypatch: pytest.MonkeyPatch) -> None:
    def watching(_delivery_id: int) -> Iterator[asyncio.Event]:
        raise AssertionError("wait=0 must not wait")

    monkeypatch.setattr(quiet.client.app[FINISHED], "watching", watching)
    status, answer, location = await _post(quiet, "0")
    assert status == 202, answer
    assert answer == {"id": answer["id"], "status": "received", "href": location, "replayed": False}
