"""The sender against a real SMTP server: content, retries, failures, concurrency, restarts."""

from __future__ import annotations

import asyncio
import contextlib
from email.message import EmailMessage
from pathlib import Path

import asyncpg

from gateway.outbox import queue as outbox
from gateway.outbox.sender import SenderPolicy
from gateway.store import db
from tests.outbox import seed
from tests.outbox.helpers import (
    FAST,
    books_for_both,
    one_delivery,
    sender_for,
    settings_for,
    status_counts,
    wait_until,
    world,
)
from tests.outbox.seed import Title
from tests.outbox.smtp import SmtpServer

EVERY_OUTCOME = [
    Title("Pippi Långstrump", "created", [("Sods", "added"), ("Li", "added")]),
    Title("Mio, min Mio", "matched", [("Sods", "added")], creators=["Lindgren, Astrid", "Wikland, Ilon"]),
    Title("Emil i Lönneberga", "updated", [("Sods", "updated"), ("Li", "deleted")], isbn="9789129688337"),
    Title(
        "Ronja rövardotter",
        "rejected",
        [("Sods", "rejected")],
        isbn="9789129688320",
        errors=[{"code": "ISBN_INVALID", "message": "020 $a is not a valid ISBN"}],
    ),
]


def parts(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None
    assert html is not None
    return plain.get_content(), html.get_content()


async def test_each_library_gets_one_message_in_its_language(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        sid = await world(conn)
        did = await one_delivery(conn, sid, EVERY_OUTCOME)
        ids = {
            r["sigel"]: r["record_id"]
            for r in await conn.fetch(
                "SELECT DISTINCT sigel, record_id FROM delivery_records "
                "WHERE kind = 'holding' AND position = 2"
            )
        }
    sender = sender_for(pool, settings_for(tmp_path, smtp_server.port))
    assert await sender.drain() == 2
    assert await status_counts(pool) == {"sent": 2}
    pippi = ids["Sods"]

    by_rcpt = {tuple(r.rcpt_tos): r for r in smtp_server.received}
    assert set(by_rcpt) == {("forvarv@sh.example",), ("acq@li.example", "cataloguing@li.example")}
    for r in smtp_server.received:
        assert r.mail_from == "forvarv@gateway.example"

    sv = by_rcpt[("forvarv@sh.example",)].message
    assert (
        sv["Subject"] == f"Förvärv: leverans {did} från BTJ till Sods – "
        "4 titlar: 1 ny, 1 matchad, 1 uppdaterad, 1 avvisad"
    )
    assert sv["To"] == "forvarv@sh.example"
    assert sv["From"] == "Förvärv Gateway <forvarv@gateway.example>"
    assert sv["Message-ID"] == f"<forvarv.delivery-{did}.Sods@forvarv.example.org>"
    assert sv["Auto-Submitted"] == "auto-generated"
    assert sv["Content-Language"] == "sv"
    text, html = parts(sv)
    assert "Hej Södertörns högskolebibliotek!" in text
    assert "BTJ Sverige AB (BTJ)" in text
    assert f"Leverans:   {did}" in text
    assert "1. Pippi Långstrump" in text
    assert "Upphov:   Lindgren, Astrid" in text
    assert "ISBN:     9789129688313" in text
    assert f"Post-id:  {pippi}" in text
    assert "Resultat: ny post skapad" in text
    assert "Resultat: matchad mot befintlig post" in text
    assert "Resultat: bestånd uppdaterat" in text
    assert (
        "Resultat: avvisad – Den bibliografiska post som beståndet hör till avvisades. (HOLDING_PARENT_REJECTED); "
        "Ett ISBN-fält innehåller inget användbart ISBN; det används inte. (ISBN_INVALID)" in text
    )
    oai = (
        f"https://forvarv.example.org/oai?verb=GetRecord&metadataPrefix=marc21"
        f"&identifier=oai:forvarv.example.org:bib/{pippi}"
    )
    assert oai in text
    assert f"https://forvarv.example.org/sru?query=rec.id%3D{pippi}" in text
    assert "https://forvarv.example.org/oai?verb=ListRecords&metadataPrefix=marc21_withholdings&set=bib:Sods" in text
    assert "https://forvarv.example.org/sru?query=bath.possessingInstitution%3D%22Sods%22" in text
    assert "Tider anges i svensk tid." in text
    assert '<html lang="sv">' in html
    assert "<bdi>Pippi Långstrump</bdi>" in html
    assert f'<a href="{oai.replace("&", "&amp;")}">' in html
    assert "avvisad – Den bibliografiska post som beståndet hör till avvisades." in html
    assert "the bibliographic record" not in text + html  # the stored English message is not shown

    en = by_rcpt[("acq@li.example", "cataloguing@li.example")].message
    assert en["Subject"] == f"Förvärv: delivery {did} from BTJ for Li – 2 titles: 1 new, 1 cancelled"
    assert en["To"] == "acq@li.example, cataloguing@li.example"
    assert en["Content-Language"] == "en"
    text, html = parts(en)
    assert "Hello Linköping City Library," in text
    assert "Outcome:   new record created" in text
    assert "Outcome:   order cancelled" in text
    assert "Emil i Lönneberga" in text
    assert "Mio" not in text
    assert '<html lang="en">' in html
    assert "order cancelled" in html

    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT message_id, recipients, sent_at FROM notifications WHERE sigel = 'Sods'"
        )
    assert row["message_id"] == sv["Message-ID"]
    assert row["recipients"] == ["forvarv@sh.example"]
    assert row["sent_at"] is not None


HOSTILE = [
    "Evil\r\nBcc: victim@attacker.example\r\nSubject: pwned",
    "Lång " * 2000,
    "\u202egpj.exe\u202c — \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 "
    "\u200b\ufeff\u2028\u2029end",
    "<script>alert('x')</script> & \"quotes\"",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324"
    "\u031e\u0349\u035a\u032f\u031e\u0320\u034dalgo 🦄",
]


async def test_hostile_record_data_never_reaches_a_header(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        sid = await seed.supplier(conn, "EVIL", "Evil\r\nBcc: victim@attacker.example")
        await seed.library(conn, "Fjärr-\u202e", "Bibliotek\r\nBcc: x@attacker.example", ["ok@lib.example"])
        titles = [
            Title(t, "created", [("Fjärr-\u202e", "added")], creators=[t], isbn="9789129688313\r\nX-Evil: 1")
            for t in HOSTILE
        ]
        await one_delivery(conn, sid, titles)
    assert await sender_for(pool, settings_for(tmp_path, smtp_server.port)).drain() == 1
    (received,) = smtp_server.received
    assert received.rcpt_tos == ["ok@lib.example"]
    raw_headers = received.data.split(b"\r\n\r\n", 1)[0]
    assert b"attacker" not in raw_headers
    assert b"X-Evil" not in raw_headers
    assert b"pwned" not in raw_headers
    assert all(len(line) <= 998 for line in received.data.split(b"\r\n"))
    msg = received.message
    assert msg["Bcc"] is None
    assert msg["X-Evil"] is None
    assert msg.get_all("Subject") == [msg["Subject"]]
    assert "Evil" not in msg["Subject"]
    assert "\u202e" not in msg["Subject"]
    text, html = parts(msg)
    # Each hostile title is one line of the body, without the control characters.
    assert "1. Evil Bcc: victim@attacker.example Subject: pwned" in text
    assert "\u202e" not in text
    assert "\u2028" not in text
    assert "\ufeff" not in text
    assert max(len(line) for line in text.splitlines()) < 400
    assert "\u2068" in text  # RTL text isolated
    assert "🦄" in text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in html
    assert "Bibliotek Bcc: x@attacker.example" in text  # the library's name: body only, one line


async def test_smtp_down_for_a_while_nothing_lost_nothing_twice(pool: asyncpg.Pool, tmp_path: Path) -> None:
    server = SmtpServer()  # a port with nobody listening yet
    await books_for_both(pool, 3)
    sender = sender_for(pool, settings_for(tmp_path, server.port))
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:

        async def retried() -> bool:
            async with pool.acquire() as conn:
                return bool(
                    await conn.fetchval(
                        "SELECT bool_and(attempts >= 2 AND status = 'pending' "
                        "AND last_error LIKE '%Connect%') "
                        "FROM notifications"
                    )
                )

        await wait_until(retried)
        await server.start()
        await wait_until(lambda: _all_sent(pool, 6))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await server.stop()
    assert len(server.received) == 6
    assert set(server.by_message_id().values()) == {1}


async def _all_sent(pool: asyncpg.Pool, n: int) -> bool:
    return await status_counts(pool) == {"sent": n}


async def test_permanent_failure_is_failed_and_listed(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        sid = await world(conn)
        await one_delivery(conn, sid, [Title("Bok", "created", [("Sods", "added")])])
    smtp_server.handler.reply = "550 5.1.1 Mailbox unavailable"
    assert await sender_for(pool, settings_for(tmp_path, smtp_server.port)).drain() == 1
    async with pool.acquire() as conn:
        (row,) = await outbox.list_notifications(conn, statuses=["failed"])
    assert row["attempts"] == 1
    assert "550" in row["last_error"]
    assert "Mailbox unavailable" in row["last_error"]


async def test_temporary_failures_back_off_then_give_up(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        sid = await world(conn)
        await one_delivery(conn, sid, [Title("Bok", "created", [("Sods", "added")])])
    smtp_server.handler.reply = "451 4.3.0 Try again later"
    slow = SenderPolicy(base_delay=600, max_attempts=3, send_timeout=5, lease_margin=1)
    sender = sender_for(pool, settings_for(tmp_path, smtp_server.port), slow)
    assert await sender.drain() == 1
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, attempts, last_error, next_attempt_at - now() AS wait FROM notifications"
        )
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert "451" in row["last_error"]
        assert 500 < row["wait"].total_seconds() < 700  # first backoff: base_delay ± jitter
        assert await sender.drain() == 0  # not due yet
        for _ in range(2):
            await conn.execute("UPDATE notifications SET next_attempt_at = now()")
            assert await sender.drain() == 1
        row = await conn.fetchrow("SELECT status, attempts, last_error FROM notifications")
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert row["last_error"].startswith("gave up after 3 attempts; last: ")
    assert smtp_server.received == []


async def test_two_senders_on_their_own_pools_send_each_message_once(
    db_url: str, pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    await books_for_both(pool, 20)
    smtp_server.handler.delay = 0.005
    settings = settings_for(tmp_path, smtp_server.port)
    pools = [await db.create_pool(db_url, min_size=1, max_size=2) for _ in range(2)]
    stop = asyncio.Event()
    senders = [sender_for(p, settings, name=f"sender-{i}") for i, p in enumerate(pools)]
    tasks = [asyncio.create_task(s.run(stop)) for s in senders]
    try:
        await wait_until(lambda: _all_sent(pool, 40))
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for p in pools:
            await p.close()
    assert len(smtp_server.received) == 40
    assert set(smtp_server.by_message_id().values()) == {1}


async def test_restart_does_not_resend_what_was_sent(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        sid = await world(conn)
        await one_delivery(conn, sid, EVERY_OUTCOME)
    settings = settings_for(tmp_path, smtp_server.port)
    assert await sender_for(pool, settings).drain() == 2
    assert await sender_for(pool, settings).drain() == 0  # a fresh sender: nothing is due
    assert len(smtp_server.received) == 2


async def test_dying_between_accept_and_commit_resends_with_the_same_message_id(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The documented at-least-once edge: the server has the message, the sender dies before
    recording it; once the lease has run out another sender sends it again, recognisably."""
    async with pool.acquire() as conn:
        sid = await world(conn)
        await one_delivery(conn, sid, [Title("Bok", "created", [("Sods", "added")])])
    settings = settings_for(tmp_path, smtp_server.port)
    policy = SenderPolicy(poll_interval=0.05, send_timeout=2.0, lease_margin=1.0)
    smtp_server.handler.hold.set()
    doomed = asyncio.create_task(sender_for(pool, settings, policy, "doomed").send_one())
    await asyncio.to_thread(smtp_server.handler.holding.wait, 10)
    doomed.cancel()  # the process dies here
    with contextlib.suppress(asyncio.CancelledError):
        await doomed
    smtp_server.handler.hold.clear()
    other = sender_for(pool, settings, policy, "other")
    assert await other.drain() == 0  # leased: nobody else touches it
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM notifications") == "sending"
    await asyncio.sleep(policy.lease + 0.1)
    assert await other.drain() == 1
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, attempts FROM notifications")
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(smtp_server.received) == 2
    assert list(smtp_server.by_message_id().values()) == [2]


async def test_resend_goes_out_under_a_new_message_id_that_refers_to_the_first(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        sid = await world(conn)
        did = await one_delivery(conn, sid, [Title("Bok", "created", [("Sods", "added")])])
        sender = sender_for(pool, settings_for(tmp_path, smtp_server.port))
        assert await sender.drain() == 1
        nid = await conn.fetchval("SELECT id FROM notifications")
        assert await outbox.resend(conn, nid) is outbox.ResendResult.QUEUED
        assert await sender.drain() == 1
    first, second = (r.message for r in smtp_server.received)
    assert first["Message-ID"] == f"<forvarv.delivery-{did}.Sods@forvarv.example.org>"
    assert second["Message-ID"] == f"<forvarv.delivery-{did}.Sods.r1@forvarv.example.org>"
    assert second["References"] == first["Message-ID"]
    assert second["Date"].datetime >= first["Date"].datetime  # dated when it went out again
    assert first.get_body(("plain",)).get_content() == second.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_daily_digest_is_one_message(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    async with pool.acquire() as conn:
        sid = await world(conn)
        await seed.library(conn, "Dig", "Digestbiblioteket", ["dig@lib.example"], digest=True)
        d1 = await one_delivery(
            conn, sid, [Title("Första", "created", [("Dig", "added"), ("Sods", "added")])]
        )
        d2 = await one_delivery(conn, sid, [Title("Andra", "matched", [("Dig", "deleted")])])
        sender = sender_for(pool, settings_for(tmp_path, smtp_server.port))
        assert await sender.drain() == 1  # Sods at once; Dig waits
        assert await outbox.build_digests(conn, now=datetime.now(UTC) + timedelta(days=1)) == 1
        assert await sender.drain() == 1
    assert [r.rcpt_tos for r in smtp_server.received] == [["forvarv@sh.example"], ["dig@lib.example"]]
    digest = smtp_server.received[1].message
    assert digest["Subject"].startswith("Förvärv: dagssammanställning ")
    assert digest["Subject"].endswith(" för Dig – 2 leveranser, 2 titlar: 1 ny, 1 avbruten")
    text, _ = parts(digest)
    assert f"Leverans:   {d1}" in text
    assert f"Leverans:   {d2}" in text
    assert text.index("Första") < text.index("Andra")
    assert "Resultat: beställningen avbruten" in text


async def test_a_library_without_a_valid_address_fails_visibly(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        sid = await world(conn)
        await seed.library(conn, "Bad", "Trasig adress", ["not an address", "x@y\r\nBcc: z@w"])
        await one_delivery(conn, sid, [Title("Bok", "created", [("Bad", "added")])])
    assert await sender_for(pool, settings_for(tmp_path, smtp_server.port)).drain() == 1
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, last_error FROM notifications")
    assert row["status"] == "failed"
    assert "invalid addresses left out: not an address" in row["last_error"]
    assert smtp_server.received == []


async def test_without_an_smtp_host_messages_go_to_the_spool_folder(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        sid = await world(conn)
        did = await one_delivery(conn, sid, EVERY_OUTCOME)
    sender = sender_for(pool, settings_for(tmp_path, None))
    assert await sender.drain() == 2
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == [
        f"forvarv.delivery-{did}.Li@forvarv.example.org.eml",
        f"forvarv.delivery-{did}.Sods@forvarv.example.org.eml",
    ]
    from email import message_from_bytes
    from email.policy import default

    msg = message_from_bytes((tmp_path / "outbox" / files[1]).read_bytes(), policy=default)
    assert msg["To"] == "forvarv@sh.example"
    assert "Pippi Långstrump" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert await status_counts(pool) == {"spooled": 2}


async def test_run_stops_when_asked(pool: asyncpg.Pool, tmp_path: Path) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sender_for(pool, settings_for(tmp_path, None), FAST).run(stop))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 2)
