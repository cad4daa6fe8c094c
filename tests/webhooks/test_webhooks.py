"""Webhooks to library systems through the real app, a real receiver and real HTTP on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import asyncpg
import pytest

from gateway.outbox.sender import SenderPolicy
from gateway.outbox.webhook import registry as webhooks
from gateway.outbox.webhook.queue import Links
from gateway.outbox.webhook.sender import WebhookSender
from tests.intake.helpers import deliver
from tests.intake.marcxml import bib, collection, holding
from tests.ports import free_port
from tests.webhooks.conftest import QUICK, Gateway
from tests.webhooks.receiver import Receiver


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def add_hook(gw: Gateway, sigel: str, url: str) -> dict:
    resp = await gw.client.post(f"/admin/libraries/{sigel}/webhooks", json={"url": url}, headers=gw.admin)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def one_delivery(gw: Gateway, n: int, sigels: tuple[str, ...] = ("Sods",)) -> dict:
    isbn = f"97891{n:07d}"
    isbn += str((10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(isbn)) % 10) % 10)
    records = [bib(own_id=f"w{n}", isbn=[isbn], title=f"Bok {n}"), *[holding(s) for s in sigels]]
    status, report = await deliver(gw.client, gw.world.supplier_token, collection(*records))
    assert status == 200 and report["status"] == "done", report
    return report


async def statuses(pool: asyncpg.Pool) -> Counter[str]:
    async with pool.acquire() as conn:
        return Counter({r["status"]: r["n"] for r in await conn.fetch(
            "SELECT status, count(*) AS n FROM webhook_events GROUP BY status")})


async def test_event_body_signature_and_links(gateway: Gateway, receiver: Receiver) -> None:
    gw = gateway
    await receiver.start()
    hook = await add_hook(gw, "Sods", receiver.url)
    receiver.secret = hook["secret"]
    assert hook["secret"].startswith("fvw_") and hook["state"] == "active"
    await add_hook(gw, "Li", receiver.url)  # Li's holdings are not in the delivery: no event for it
    report = await one_delivery(gw, 1, ("Sods", "Nyks"))
    await until(lambda: asyncio.sleep(0, len(receiver.received) >= 1))
    await asyncio.sleep(0.3)
    (event,) = receiver.received
    assert receiver.bad_signatures == 0
    assert event["type"] == "delivery.loaded" and event["library"] == "Sods"
    assert event["delivery"]["id"] == report["id"] and event["delivery"]["supplier"]["code"] == "BOKR"
    assert event["delivery"]["finished_at"] == report["finished_at"]
    (rec,) = event["records"]
    entry = report["records"][0]
    assert rec["record_id"] == entry["record_id"] and rec["record_outcome"] == "created"
    assert rec["holding_outcome"] == "added"
    assert rec["oai_identifier"] == f"oai:forvarv.example.org:bib/{entry['record_id']}"
    # the ready links work against the gateway's own OAI-PMH
    for link in (rec["get_record"], event["links"]["list_records"]):
        assert link.startswith("https://forvarv.example.org/oai?")
        resp = await gw.client.get("/oai?" + urlsplit(link).query)
        text = await resp.text()
        assert resp.status == 200 and "<error" not in text and entry["record_id"] in text, text[:500]
    assert "set=bib%3ASods" in event["links"]["list_records"]
    resp = await gw.client.get("/admin/libraries/Sods/webhooks", headers=gw.admin)
    (listed,) = (await resp.json())["webhooks"]
    assert "secret" not in listed and listed["last_success_at"] and listed["pending"] == 0


async def test_an_ambiguous_match_is_an_ambiguous_record_outcome_with_its_candidates(gateway: Gateway,
                                                                                   receiver: Receiver) -> None:
    gw = gateway
    await receiver.start()
    hook = await add_hook(gw, "Sods", receiver.url)
    receiver.secret = hook["secret"]
    status, first = await deliver(gw.client, gw.world.supplier_token, collection(
        bib(own_id="K1", isbn=["9789127108509"], title="Äldst", level=" "),
        bib(own_id="K2", isbn=["9789150222319"], title="Yngre", level=" ")))
    assert status == 200
    oldest, younger = (r["record_id"] for r in first["records"])
    status, report = await deliver(gw.client, gw.world.supplier_token, collection(
        bib(own_id="K3", isbn=["9789127108509", "9789150222319"], title="Båda"), holding("Sods"),
        bib(own_id="K4", isbn=["9789127108509"], title="En"), holding("Sods")))
    assert status == 200 and report["records"][0]["outcome"] == "ambiguous"
    await until(lambda: asyncio.sleep(0, len(receiver.received) >= 1))
    (event,) = receiver.received
    both, one = event["records"]
    assert both["record_outcome"] == "ambiguous" and both["attached_as"] == "matched"
    assert both["record_id"] == oldest and both["holding_outcome"] == "added"
    assert both["candidates"] == [
        {"record_id": oldest, "oai_identifier": f"oai:forvarv.example.org:bib/{oldest}", "title": "Äldst"},
        {"record_id": younger, "oai_identifier": f"oai:forvarv.example.org:bib/{younger}", "title": "Yngre"}]
    assert one["record_outcome"] == "matched" and "candidates" not in one and "attached_as" not in one


async def test_outage_and_recovery_every_event_once_back_with_the_same_ids(gateway: Gateway,
                                                                          receiver: Receiver) -> None:
    gw = gateway
    port = free_port()
    hook = await add_hook(gw, "Sods", f"http://127.0.0.1:{port}/hook")
    receiver.secret = hook["secret"]
    for n in range(3):
        await one_delivery(gw, 10 + n)

    async def retried() -> bool:
        async with gw.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT count(*) = 3 AND min(attempts) >= 2 FROM webhook_events"))

    await until(retried)
    assert receiver.received == []
    async with gw.pool.acquire() as conn:
        ids = {str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM webhook_events")}
        assert "cannot connect" in await conn.fetchval("SELECT min(last_error) FROM webhook_events")
    await receiver.start(port)
    await until(lambda: _all_sent(gw.pool, 3))
    assert set(receiver.ids) == ids and receiver.bad_signatures == 0
    assert Counter(receiver.ids) == Counter(dict.fromkeys(ids, 1))  # each once: it was down, not slow


async def _all_sent(pool: asyncpg.Pool, n: int) -> bool:
    return (await statuses(pool)).get("sent", 0) == n


async def test_a_receiver_answering_500_gets_the_same_event_again(gateway: Gateway, receiver: Receiver) -> None:
    gw = gateway
    await receiver.start()
    hook = await add_hook(gw, "Sods", receiver.url)
    receiver.secret, receiver.fail_next = hook["secret"], 2
    await one_delivery(gw, 20)
    await until(lambda: _all_sent(gw.pool, 1))
    assert len(receiver.ids) == 3 and len(set(receiver.ids)) == 1
    bodies = {tuple(sorted(e.items(), key=lambda kv: kv[0])).__repr__() for e in receiver.received}
    assert len(bodies) == 1  # byte for byte the same event each time


@pytest.fixture
def policy(request: pytest.FixtureRequest) -> SenderPolicy:
    return getattr(request, "param", QUICK)


@pytest.mark.parametrize("policy", [SenderPolicy(poll_interval=0.05, base_delay=0.05, max_delay=0.1, max_attempts=3,
                                                 send_timeout=0.5, lease_margin=1.0)], indirect=True)
async def test_a_webhook_that_keeps_failing_is_marked_and_stops(gateway: Gateway, receiver: Receiver) -> None:
    gw = gateway
    await receiver.start()
    hook = await add_hook(gw, "Sods", receiver.url)
    receiver.secret, receiver.always_fail = hook["secret"], True
    await one_delivery(gw, 30)

    async def failed() -> bool:
        return (await statuses(gw.pool)).get("failed", 0) == 1

    await until(failed)
    await asyncio.sleep(0.5)
    assert len(receiver.ids) == 3  # max_attempts, then no more
    resp = await gw.client.get("/admin/webhooks?state=failing", headers=gw.admin)
    (listed,) = (await resp.json())["webhooks"]
    assert listed["id"] == hook["id"] and listed["failed"] == 1 and "HTTP 500" in listed["last_error"]
    receiver.always_fail = False
    resp = await gw.client.post(f"/admin/libraries/Sods/webhooks/{hook['id']}/retry", headers=gw.admin)
    assert (await resp.json())["queued"] == 1
    await until(lambda: _all_sent(gw.pool, 1))
    resp = await gw.client.get("/admin/webhooks?state=failing", headers=gw.admin)
    assert (await resp.json())["webhooks"] == []
    assert len(set(receiver.ids)) == 1


async def test_a_slow_receiver_is_timed_out_and_sent_again(gateway: Gateway, receiver: Receiver) -> None:
    gw = gateway
    await receiver.start()
    hook = await add_hook(gw, "Sods", receiver.url)
    receiver.secret, receiver.slow_next, receiver.slow_seconds = hook["secret"], 1, 2.0
    await one_delivery(gw, 40)
    await until(lambda: _all_sent(gw.pool, 1))
    async with gw.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT attempts, event_id FROM webhook_events")
    assert row["attempts"] >= 2
    await asyncio.sleep(2.0)  # the slow first request finishes on the receiver's side too
    assert set(receiver.ids) == {str(row["event_id"])} and len(receiver.ids) >= 2


async def test_redirects_are_not_followed(gateway: Gateway, receiver: Receiver) -> None:
    gw = gateway
    await receiver.start()
    hook = await add_hook(gw, "Sods", receiver.url)
    receiver.secret, receiver.redirect = hook["secret"], True
    await one_delivery(gw, 50)
    await until(lambda: _failed(gw.pool))
    assert receiver.other_hits == 0
    async with gw.pool.acquire() as conn:
        assert "redirects are not followed" in await conn.fetchval("SELECT last_error FROM webhook_events")


async def _failed(pool: asyncpg.Pool) -> bool:
    return (await statuses(pool)).get("failed", 0) == 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/hook",
                                 "http://[::1]/hook", "http://169.254.169.254/latest", "http://192.168.1.1/",
                                 "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "ftp://example.org/",
                                 "http://user:pw@example.org/", "not a url"])
async def test_private_and_bad_urls_are_refused(pool: asyncpg.Pool, url: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO libraries (sigel, name) VALUES ('Sods', 'S')")
        from gateway.errors import Invalid

        with pytest.raises(Invalid) as caught:
            await webhooks.add(conn, "Sods", url, allow_private=False)
    assert caught.value.detail["field"] == "url"


@pytest.mark.parametrize("policy", [SenderPolicy(poll_interval=0.05, base_delay=0.05, max_delay=0.1, max_attempts=2,
                                                 send_timeout=0.5, lease_margin=1.0)], indirect=True)
async def test_giving_up_logs_one_warning_without_secrets(gateway: Gateway, receiver: Receiver,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Marked failing after the last attempt: one WARNING line naming the webhook, its library and its
    site, with neither the signing secret nor the URL's path or query (credentials live there)."""
    gw = gateway
    await receiver.start()
    hook = await add_hook(gw, "Sods", receiver.url + "?key=query-credential")
    receiver.secret, receiver.always_fail = hook["secret"], True
    caplog.set_level(logging.INFO, logger="gateway.outbox.webhook.sender")
    await one_delivery(gw, 35)

    async def failed() -> bool:
        return (await statuses(gw.pool)).get("failed", 0) == 1

    await until(failed)
    await asyncio.sleep(0.3)
    assert len(receiver.ids) == 2
    lines = [r for r in caplog.records if r.name == "gateway.outbox.webhook.sender"]
    (warning,) = [r for r in lines if r.levelno >= logging.WARNING]
    text = warning.getMessage()
    assert warning.levelno == logging.WARNING
    assert f"webhook {hook['id']} of library Sods" in text and "marked failing" in text, text
    assert f"http://127.0.0.1:{receiver.port}" in text and "HTTP 500" in text and "gave up after 2" in text, text
    for r in lines:
        assert hook["secret"] not in r.getMessage() and "query-credential" not in r.getMessage()
        assert "/hook" not in r.getMessage()


#: The app's own sender looks once at start and then not for an hour: the test's senders do the work.
IDLE = SenderPolicy(poll_interval=3600, base_delay=0.05, max_delay=0.1, max_attempts=3, send_timeout=2.0,
                    lease_margin=1.0)


@pytest.mark.parametrize("policy", [IDLE], indirect=True)
async def test_a_private_address_is_refused_when_sending_too(gateway: Gateway, receiver: Receiver,
                                                             pool: asyncpg.Pool) -> None:
    """Registered while private addresses were allowed; a sender that does not allow them refuses."""
    await receiver.start()
    async with pool.acquire() as conn:
        wid = await conn.fetchval("INSERT INTO webhooks (sigel, url, secret) VALUES ('Sods', $1, 's') RETURNING id",
                                  f"http://localhost:{receiver.port}/hook")
        await conn.execute("INSERT INTO webhook_events (webhook_id, type, content) VALUES ($1, 'delivery.loaded', "
                           "'[]')", wid)
    strict = WebhookSender(pool, Links("https://x.example", "x"), QUICK, allow_private=False)
    assert await strict.drain() == 1
    await strict.close()
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, last_error FROM webhook_events")
        state = await conn.fetchval("SELECT state FROM webhooks")
    assert row["status"] == "failed" and "refused address" in row["last_error"], row
    assert state == "failing" and receiver.received == []


@pytest.mark.parametrize("policy", [IDLE], indirect=True)
async def test_two_senders_never_send_one_event_twice(gateway: Gateway, receiver: Receiver, db_url: str) -> None:
    gw = gateway
    await receiver.start()
    hook = await add_hook(gw, "Sods", receiver.url)
    receiver.secret = hook["secret"]
    for n in range(6):
        await one_delivery(gw, 60 + n)
    from gateway.store import db

    pools = [await db.create_pool(db_url, min_size=1, max_size=2) for _ in range(2)]
    try:
        senders = [WebhookSender(p, Links("https://x.example", "x"), QUICK, allow_private=True, name=f"s{i}")
                   for i, p in enumerate(pools)]
        handled = await asyncio.gather(*(s.drain() for s in senders))
        assert sum(handled) == 6
        assert await _all_sent(gw.pool, 6)
        for s in senders:
            await s.close()
    finally:
        for p in pools:
            await p.close()
    assert len(receiver.ids) == 6 and len(set(receiver.ids)) == 6
