"""Large deliveries: a message lists at most content.MAX_TITLES titles, and its counts still cover
every title (real PostgreSQL, real SMTP server)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import asyncpg

from gateway.outbox import queue as outbox
from gateway.outbox.mail.content import MAX_TITLES
from tests.outbox import seed
from tests.outbox.helpers import one_delivery, sender_for, settings_for, status_counts, world
from tests.outbox.seed import Title
from tests.outbox.smtp import SmtpServer

assert MAX_TITLES == 200, "the numbers below are worked out for a cap of 200"

REJECTED = [{"code": "ISBN_INVALID", "message": "020 $a is not a valid ISBN"}]


def titles(n: int, sigels: list[str], prefix: str = "Titel") -> list[Title]:
    """Every tenth (from the 9th) rejected, every tenth (from the 8th) cancelled for the first
    sigel and updated for the others; of the rest, even ones created and odd ones matched."""
    out = []
    for i in range(n):
        name = f"{prefix} {i}"
        if i % 10 == 9:
            out.append(Title(name, "rejected", [(s, "rejected") for s in sigels], errors=REJECTED))
        elif i % 10 == 8:
            holdings = [(s, "deleted" if k == 0 else "updated") for k, s in enumerate(sigels)]
            out.append(Title(name, "updated", holdings))
        else:
            out.append(Title(name, "created" if i % 2 == 0 else "matched", [(s, "added") for s in sigels]))
    return out


def parts(msg: EmailMessage) -> tuple[str, str]:
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def numbered(plain: str) -> list[str]:
    """The titles the plain text lists, in order."""
    return re.findall(r"^\d+\. (.*?)\r?$", plain, flags=re.M)


async def test_a_large_delivery_lists_the_cap_and_counts_every_title(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        sid = await world(conn)
        did = await one_delivery(conn, sid, titles(250, ["Sods", "Li"]))
        rows = {
            r["sigel"]: r
            for r in await conn.fetch("SELECT sigel, item_count, content::text AS c FROM notifications")
        }
    # 250 titles: 25 rejected, 25 cancelled (Sods) or updated (Li), 100 created, 100 matched.
    assert {s: r["item_count"] for s, r in rows.items()} == {"Sods": 250, "Li": 250}
    sods = json.loads(rows["Sods"]["c"])["deliveries"][0]
    assert [i["title"] for i in sods["items"]] == [f"Titel {i}" for i in range(200)]
    assert sods["omitted"] == 50
    assert sods["counts"] == {
        "created": 100, "matched": 100, "ambiguous": 0, "holdings_updated": 0, "cancelled": 25, "rejected": 25
    }
    li = json.loads(rows["Li"]["c"])["deliveries"][0]
    assert (len(li["items"]), li["omitted"]) == (200, 50)
    assert li["counts"] == {"created": 100, "matched": 100, "ambiguous": 0, "holdings_updated": 25, "cancelled": 0,
                            "rejected": 25}

    sender = sender_for(pool, settings_for(tmp_path, smtp_server.port))
    assert await sender.drain() == 2
    assert await status_counts(pool) == {"sent": 2}
    by_rcpt = {r.rcpt_tos[0]: r for r in smtp_server.received}
    oai_set = "https://forvarv.example.org/oai?verb=ListRecords&amp;metadataPrefix=marc21_withholdings&amp;set=bib:{}&amp;from="
    sru = "https://forvarv.example.org/sru?query=bath.possessingInstitution%3D%22{}%22"

    sv = by_rcpt["forvarv@sh.example"]
    assert sv.message["Subject"] == (
        f"Förvärv: leverans {did} från BTJ till Sods – "
        "250 titlar: 100 nya, 100 matchade, 25 avbrutna, 25 avvisade"
    )
    plain, html = parts(sv.message)
    assert numbered(plain) == [f"Titel {i}" for i in range(200)]
    assert "Titlar:     250 (100 nya, 100 matchade, 25 avbrutna, 25 avvisade)" in plain
    more = "… och 50 titlar till, som inte listas här (ett meddelande listar högst 200 titlar)."
    assert more in plain and more in html
    assert "Hela listan: OAI-PMH (set bib:Sods, poster ändrade sedan leveransdagen)" in plain
    assert oai_set.format("Sods").replace("&amp;", "&") in plain
    assert oai_set.format("Sods") in html and sru.format("Sods") in html
    assert html.count("<tr><td><bdi>") == 200
    assert "250 (100 nya, 100 matchade, 25 avbrutna, 25 avvisade)" in html

    en = by_rcpt["acq@li.example"]
    assert en.message["Subject"] == (
        f"Förvärv: delivery {did} from BTJ for Li – "
        "250 titles: 100 new, 100 matched, 25 updated, 25 rejected"
    )
    plain, html = parts(en.message)
    assert len(numbered(plain)) == 200
    assert "Titles:   250 (100 new, 100 matched, 25 updated, 25 rejected)" in plain
    more = "… and 50 more titles, not listed here (a message lists at most 200 titles)."
    assert more in plain and more in html
    assert "The full list: OAI-PMH (set bib:Li, records changed since the day of the delivery)" in html
    assert sru.format("Li") in plain
    assert html.count("<tr><td><bdi>") == 200
    # Bounded by the cap, not by the delivery: 200 titles in text and HTML (measured ~150 kB).
    assert len(sv.data) < 250_000 and len(en.data) < 250_000


async def test_a_small_delivery_is_listed_in_full(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        sid = await world(conn)
        await one_delivery(conn, sid, titles(MAX_TITLES, ["Li"]))
        content = json.loads(await conn.fetchval("SELECT content::text FROM notifications"))
    assert (len(content["deliveries"][0]["items"]), content["deliveries"][0]["omitted"]) == (200, 0)
    sender = sender_for(pool, settings_for(tmp_path, smtp_server.port))
    assert await sender.drain() == 1
    plain, html = parts(smtp_server.received[0].message)
    assert len(numbered(plain)) == 200
    assert "more title" not in plain and "more title" not in html
    assert "The full list" not in plain


async def test_a_digest_of_large_deliveries_is_capped_and_its_counts_add_up(
    pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        sid = await seed.supplier(conn)
        await seed.library(conn, "Dig", "Digest Library", ["dig@lib.example"], language="en", digest=True)
        sizes = [210, 230, 5]
        dids = [await one_delivery(conn, sid, titles(n, ["Dig"], f"D{k}")) for k, n in enumerate(sizes)]
        held = await conn.fetch("SELECT item_count, content::text AS c FROM notifications ORDER BY id")
        assert [r["item_count"] for r in held] == sizes
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        assert await outbox.build_digests(conn, now=tomorrow) == 1
        digest = await conn.fetchrow(
            "SELECT item_count, content::text AS c FROM notifications WHERE kind = 'digest'"
        )
    assert digest["item_count"] == sum(sizes)
    deliveries = json.loads(digest["c"])["deliveries"]
    assert [d["id"] for d in deliveries] == dids
    # Each delivery keeps its exact counts: those of its own notification.
    assert [d["counts"] for d in deliveries] == [json.loads(r["c"])["deliveries"][0]["counts"] for r in held]
    assert [sum(d["counts"].values()) for d in deliveries] == sizes
    # 200 titles listed in all, the earliest; the rest counted as left out.
    assert [len(d["items"]) for d in deliveries] == [200, 0, 0]
    assert [d["omitted"] for d in deliveries] == [10, 230, 5]

    sender = sender_for(pool, settings_for(tmp_path, smtp_server.port))
    assert await sender.drain() == 1
    msg = smtp_server.received[0].message
    # 210 + 230 + 5 titles: rejected and cancelled 21 + 23 + 0 each, created 84 + 92 + 3,
    # matched 84 + 92 + 2.
    totals = {k: sum(d["counts"][k] for d in deliveries) for k in deliveries[0]["counts"]}
    assert sum(totals.values()) == 445
    assert totals == {"created": 179, "matched": 178, "ambiguous": 0, "holdings_updated": 0, "cancelled": 44,
                      "rejected": 44}
    assert msg["Subject"].endswith(
        "3 deliveries, 445 titles: 179 new, 178 matched, 44 cancelled, 44 rejected"
    )
    plain, html = parts(msg)
    assert numbered(plain) == [f"D0 {i}" for i in range(200)]
    assert html.count("<tr><td><bdi>") == 200
    for n in (10, 230, 5):
        line = f"… and {n} more titles, not listed here (a message lists at most 200 titles)."
        assert line in plain and line in html
    assert plain.count("The full list:") == 3


async def test_a_digest_lists_the_earliest_finished_deliveries_first(pool: asyncpg.Pool) -> None:
    """Rows are read in the digest's order (finished_at, delivery id), not in the order written."""
    async with pool.acquire() as conn:
        sid = await seed.supplier(conn)
        await seed.library(conn, "Dig", "Digest Library", ["dig@lib.example"], digest=True)
        first = await one_delivery(conn, sid, titles(150, ["Dig"], "A"))
        second = await one_delivery(conn, sid, titles(120, ["Dig"], "B"))
        # The first written finished a day later (as a delivery whose load took long would).
        await conn.execute(
            """UPDATE notifications
               SET content = jsonb_set(content, '{deliveries,0,finished_at}', to_jsonb($2::text))
               WHERE delivery_id = $1""",
            first,
            (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        )
        assert await outbox.build_digests(conn, now=datetime.now(UTC) + timedelta(days=1)) == 1
        digest = json.loads(await conn.fetchval("SELECT content::text FROM notifications WHERE kind = 'digest'"))
    deliveries = digest["deliveries"]
    assert [d["id"] for d in deliveries] == [second, first]
    assert [len(d["items"]) for d in deliveries] == [120, 80]
    assert [d["omitted"] for d in deliveries] == [0, 70]
    assert [d["items"][0]["title"] for d in deliveries] == ["B 0", "A 0"]
