"""What the SRU search index (migration 0003) costs PostgreSQL per written record.

    python bench/search_index_cost.py [--records 10000] [--batch-size 500]

Loads N synthetic records (gateway.demo.synthetic, parsed and summarised as the loader does) into
bib_records with the index triggers disabled, then times, in batches of the loader's size and
one transaction each:
  * search_insert(ids): indexing new records (what the INSERT trigger runs),
  * search_refresh(ids): rewriting them (an update whose summary changed),
  * the loader's own statements with the triggers on: INSERT of new records, an UPDATE that
    keeps the summary (a redelivery: the index must be left alone) and one that changes it,
    each against the same statement with the triggers off.
Uses FORVARV_DATABASE_URL if set (a scratch database there), else an embedded PostgreSQL in a
temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import benchdb

from gateway.demo import synthetic
from gateway.store import db, migrations
from protocols.marc.record import Record
from protocols.marc.summary import describe
from protocols.marc.writer import to_marcxml
from protocols.marc.xmlreader import MarcXmlParser

TRIGGERS = ("bib_records_search_insert", "bib_records_search_update", "bib_records_search_delete")
INSERT = """
INSERT INTO bib_records (id, match_class, encoding_level, marcxml, summary)
SELECT id, 'a:print', el, x, s::jsonb
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS t (id, el, x, s)
"""
REPLACE = """
UPDATE bib_records b SET marcxml = t.x, summary = t.s::jsonb, modified_at = now()
  FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t (id, x, s) WHERE b.id = t.id
"""


def records(count: int) -> list[tuple[str, str, str]]:
    """(encoding level, marcxml, summary json) of `count` synthetic bibliographic records."""
    parser = MarcXmlParser()
    payload = synthetic.delivery(count, ["Sods", "Nyks"], seed=7)
    parsed: list[Record] = []
    for i in range(0, len(payload), 1 << 20):  # in pieces, as intake reads a delivery
        parsed.extend(r.record for r in parser.feed(payload[i:i + (1 << 20)]) if r.record is not None)
    parsed.extend(r.record for r in parser.close() if r.record is not None)
    return [(r.leader[17], to_marcxml(r), json.dumps(describe(r))) for r in parsed if not r.is_holdings]


async def triggers(conn: asyncpg.Connection, on: bool) -> None:
    for name in TRIGGERS:
        await conn.execute(f"ALTER TABLE bib_records {'ENABLE' if on else 'DISABLE'} TRIGGER {name}")


async def timed(conn: asyncpg.Connection, batches: list[list[object]], sql: str) -> float:
    t0 = time.perf_counter()
    for batch in batches:
        async with conn.transaction():
            await conn.execute(sql, *batch)
    return time.perf_counter() - t0


async def run(url: str, count: int, batch_size: int) -> None:
    rows = records(count)
    n = len(rows)
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn)
        await triggers(conn, False)
        first = 100001
        ids = list(range(first, first + n))
        chunks = [slice(i, i + batch_size) for i in range(0, n, batch_size)]

        def insert_args(offset: int) -> list[list[object]]:
            return [[[i + offset for i in ids[c]], [r[0] for r in rows[c]], [r[1] for r in rows[c]],
                     [r[2] for r in rows[c]]] for c in chunks]

        await timed(conn, insert_args(0), INSERT)
        await conn.execute("VACUUM ANALYZE bib_records")
        id_batches: list[list[object]] = [[ids[c]] for c in chunks]
        print(f"{n} records, batches of {batch_size}, one transaction each; µs per record:")
        t = await timed(conn, id_batches, "SELECT search_insert($1::bigint[])")
        print(f"  search_insert (index new records)            {t / n * 1e6:7.0f}")
        t = await timed(conn, id_batches, "SELECT search_refresh($1::bigint[])")
        print(f"  search_refresh (rewrite them)                {t / n * 1e6:7.0f}")

        # The loader's statements, triggers off and on (the difference is the index's share).
        same: list[list[object]] = [[ids[c], [r[1] for r in rows[c]], [r[2] for r in rows[c]]] for c in chunks]

        def changed(k: int) -> list[list[object]]:
            return [[ids[c], [r[1] for r in rows[c]],
                     [json.dumps({**json.loads(r[2]), "edition": f"{k}. uppl."}) for r in rows[c]]]
                    for c in chunks]

        for label, make, sql in (("INSERT new records", lambda k: insert_args(k * 10**6), INSERT),
                                 ("UPDATE, summary unchanged", lambda k: same, REPLACE),
                                 ("UPDATE, summary changed", changed, REPLACE)):
            await triggers(conn, False)
            off = await timed(conn, make(1), sql)
            await triggers(conn, True)
            on = await timed(conn, make(2), sql)
            print(f"  {label:<28} triggers off {off / n * 1e6:6.0f}, on {on / n * 1e6:6.0f},"
                  f" index {(on - off) / n * 1e6:6.0f}")
        # Everything written with the triggers on is indexed, and nothing else.
        await conn.execute("SELECT search_insert(ARRAY(SELECT id FROM bib_records WHERE id BETWEEN $1 AND $2))",
                           first + 10**6, first + 2 * 10**6 - 1)
        live = await conn.fetchval("SELECT count(*) FROM bib_records WHERE NOT deleted")
        indexed = await conn.fetchval("SELECT count(*) FROM bib_search")
        edition = await conn.fetchval("SELECT count(*) FROM bib_search WHERE words @@ '2:D & uppl:D'")
        assert live == indexed, (live, indexed)
        assert edition == n, edition
        sizes = await conn.fetch(
            "SELECT relname, pg_total_relation_size(oid) AS size FROM pg_class"
            " WHERE relname IN ('bib_records', 'bib_search', 'search_terms') ORDER BY relname")
        print("  sizes (" + f"{live} records): " + ", ".join(f"{r['relname']} {r['size'] / 1e6:.0f} MB" for r in sizes))
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=500)
    args = ap.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with benchdb.database("search_cost") as url:
        asyncio.run(run(url, args.records, args.batch_size))


if __name__ == "__main__":
    main()
