"""Benchmark: the e-mail outbox (enqueue, render, SMTP to a local aiosmtpd, spool).

    python bench/mail.py [--titles 5000] [--libraries 50] [--messages 1000]

Starts an embedded PostgreSQL in a temporary folder (or uses a scratch database on
FORVARV_DATABASE_URL's server, dropped afterwards) and a real SMTP server (aiosmtpd) on loopback.

* enqueue:  enqueue_for_delivery for one delivery with TITLES titles, each held by every one of
            LIBRARIES libraries (TITLES × LIBRARIES holdings rows) — the time the loader's
            finishing transaction spends on the outbox;
* render:   messages/s rendered (20 titles each), no I/O;
* smtp:     MESSAGES notifications sent to the SMTP server, one sender, then two senders on
            separate pools: messages/s;
* spool:    the same, written to the spool folder.

Targets: enqueue ≥ 10 000 holdings/s (a 250 000-holding delivery adds well under a minute to a
load that itself takes minutes); the sender ≥ 20 messages/s to SMTP on loopback (a busy day's
few hundred messages in seconds). Rendering dominates a send (the email package's header folding
and quoted-printable encoding); two senders in one process share one CPU-bound interpreter, so the
second adds little here — separate processes scale.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchdb

from gateway.outbox import queue as outbox
from gateway.outbox.mail.render import MailContext, render
from gateway.store import db, migrations
from tests.outbox.helpers import FAST, sender_for, settings_for
from tests.outbox.smtp import SmtpServer

SEED = """
WITH s AS (INSERT INTO suppliers (code, name) VALUES ('BENCH', 'Benchmark AB') RETURNING id)
INSERT INTO deliveries (supplier_id, format, sha256, size, record_count, status)
SELECT s.id, 'marcxml', '\\x00', 0, 0, 'done' FROM s, generate_series(1, $1)
"""
LIBRARIES = """
INSERT INTO libraries (sigel, name, emails)
SELECT 'L' || i, 'Bibliotek ' || i, ARRAY['kontakt@l' || i || '.example'] FROM generate_series(1, $1) i
"""
BIBS = """
INSERT INTO bib_records (id, match_class, encoding_level, marcxml, summary)
SELECT 100000 + i, 'am', '5', '<record/>',
       jsonb_build_object('title', 'Titel nummer ' || i || ': en bok om allt', 'creators',
                          jsonb_build_array('Författare, Anna'), 'isbns', jsonb_build_array('978912968831' || (i % 10)))
FROM generate_series(1, $1) i
"""
RESULTS = """
INSERT INTO delivery_records (delivery_id, position, kind, parent_position, outcome, record_id, sigel, title)
SELECT $1, t * ($3 + 1) + l, CASE WHEN l = 0 THEN 'bib' ELSE 'holding' END,
       CASE WHEN l = 0 THEN NULL ELSE t * ($3 + 1) END,
       CASE WHEN l = 0 THEN 'created' ELSE 'added' END, 100001 + t,
       CASE WHEN l = 0 THEN NULL ELSE 'L' || l END, 'Titel nummer ' || (t + 1)
FROM generate_series(0, $2 - 1) t, generate_series(0, $3) l
"""


async def run(url: str, titles: int, libraries: int, messages: int) -> None:
    conn = await db.connect(url)
    await migrations.migrate(conn)
    deliveries = max(1, messages // libraries) + 1
    await conn.execute(SEED, deliveries)
    await conn.execute(LIBRARIES, libraries)
    await conn.execute(BIBS, max(titles, 20))
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM deliveries ORDER BY id")]

    # --- enqueue -------------------------------------------------------------------------------
    await conn.execute(RESULTS, ids[0], titles, libraries)
    t0 = time.perf_counter()
    async with conn.transaction():
        n = await outbox.enqueue_for_delivery(conn, ids[0])
    dt = time.perf_counter() - t0
    print(
        f"enqueue   {titles} titles × {libraries} libraries = {titles * libraries} holdings "
        f"-> {n} notifications in {dt:.2f} s ({titles * libraries / dt:,.0f} holdings/s)"
    )

    # --- render --------------------------------------------------------------------------------
    await conn.execute("DELETE FROM notifications")
    for did in ids[1:]:
        await conn.execute(RESULTS, did, 20, libraries)
        await outbox.enqueue_for_delivery(conn, did)
    await conn.execute(
        "DELETE FROM notifications WHERE id NOT IN (SELECT id FROM notifications ORDER BY id LIMIT $1)",
        messages,
    )
    total = await conn.fetchval("SELECT count(*) FROM notifications")
    one = await outbox.load_outgoing(conn, await conn.fetchval("SELECT min(id) FROM notifications"))
    assert one is not None
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), None)
        ctx = MailContext.from_settings(settings)
        t0 = time.perf_counter()
        for _ in range(500):
            render(one, ctx).message.as_bytes()
        dt = time.perf_counter() - t0
        print(f"render    500 messages of 20 titles in {dt:.2f} s ({500 / dt:,.0f} messages/s)")

    # --- smtp / spool --------------------------------------------------------------------------
    server = SmtpServer()
    await server.start()
    try:
        for senders, port in ((1, server.port), (2, server.port), (1, None)):
            await conn.execute(
                "UPDATE notifications SET status = 'pending', next_attempt_at = now(), attempts = 0"
            )
            server.handler.received.clear()
            with tempfile.TemporaryDirectory() as tmp:
                settings = settings_for(Path(tmp), port)
                pools = [await db.create_pool(url, min_size=1, max_size=2) for _ in range(senders)]
                t0 = time.perf_counter()
                counts = await asyncio.gather(*(sender_for(p, settings, FAST).drain() for p in pools))
                dt = time.perf_counter() - t0
                for p in pools:
                    await p.close()
            assert sum(counts) == total, counts
            where = "smtp " if port else "spool"
            print(
                f"{where}     {total} messages, {senders} sender(s): {dt:.2f} s ({total / dt:,.0f} messages/s)"
            )
    finally:
        await server.stop()
        await conn.close()




def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--titles", type=int, default=5000)
    parser.add_argument("--libraries", type=int, default=50)
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    with benchdb.database("bench_mail") as url:
        asyncio.run(run(url, args.titles, args.libraries, args.messages))


if __name__ == "__main__":
    main()
