"""What the review actions cost, beside loading the delivery they settle.

    python bench/review.py                  # 20,000 filler records, 12 ambiguous ones at the end
    python bench/review.py --records 50000

A delivery of N unrelated books is followed by K records that each meet two stored records (an
ambiguous match, queued for review), at the very end of the payload: the worst case for
`separate`, which reads the incoming record back from the stored payload. Prints the time to load
the delivery (the peer), to read the last record back, and the median of each action (keep on the
other candidate, merge, separate) and of a record's detail with provenance. Embedded PostgreSQL
in a temporary folder unless FORVARV_DATABASE_URL names a server (bench/benchdb.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchdb  # noqa: E402  (bench/, beside this script)

from gateway import registry  # noqa: E402
from gateway.demo import synthetic  # noqa: E402
from gateway.intake import loader, provenance, review  # noqa: E402
from gateway.intake import receive as intake  # noqa: E402
from gateway.intake.incoming import incoming_record  # noqa: E402
from gateway.store import db, migrations  # noqa: E402

NS = "http://www.loc.gov/MARC21/slim"


def _bib(own_id: str, isbns: list[str], title: str, sigel: str | None) -> str:
    fields = "".join(f'<datafield tag="020" ind1=" " ind2=" "><subfield code="a">{i}</subfield></datafield>'
                     for i in isbns)
    record = ('<record type="Bibliographic"><leader>00000cam a22000005i 4500</leader>'
              f'<controlfield tag="001">{own_id}</controlfield>'
              '<controlfield tag="008">170327s2017    sw ||||j     |00| 0|swe d</controlfield>'
              f'{fields}<datafield tag="245" ind1="1" ind2="0"><subfield code="a">{title}</subfield></datafield>'
              "</record>")
    if sigel:
        record += ('<record type="Holdings"><leader>00000nx  a2200000un 4500</leader>'
                   '<controlfield tag="008">170714||0000|||||000||||||000000</controlfield>'
                   f'<datafield tag="852" ind1=" " ind2=" "><subfield code="b">{sigel}</subfield></datafield>'
                   "</record>")
    return record


def _collection(records: list[str]) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns="{NS}">'
            + "".join(records) + "</collection>").encode()


async def _body(payload: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(payload), 262144):
        yield payload[i:i + 262144]


async def _deliver(pool: db.asyncpg.Pool, payload: bytes) -> tuple[int, float]:
    async with pool.acquire() as conn:
        supplier = await registry.get_supplier(conn, "BENCH")
    received = await intake.receive(pool, supplier, _body(payload), content_type="application/xml", max_body=10**10)
    t0 = time.perf_counter()
    await loader.load_delivery(pool, received.id, org_code="FORVARV")
    return received.id, time.perf_counter() - t0


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.1f} ms (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})"


async def run(url: str, filler: int, k: int) -> None:
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn)
        await benchdb.register_supplier(conn)
    finally:
        await conn.close()
    pool = await db.create_pool(url, min_size=2, max_size=6)
    try:
        a = [synthetic.isbn13(i, "97862") for i in range(k)]
        b = [synthetic.isbn13(i, "97863") for i in range(k)]
        await _deliver(pool, _collection([_bib(f"A{i}", [a[i]], f"A {i}", "Nyks") for i in range(k)]))
        await _deliver(pool, _collection([_bib(f"B{i}", [b[i]], f"B {i}", "Li") for i in range(k)]))
        body = b"".join(synthetic.delivery_chunks(filler, benchdb.SIGELS, isbn_prefix="97830"))
        body = body[:body.rindex(b"</collection>")] + "".join(
            _bib(f"C{i}", [a[i], b[i]], f"C {i}", "Sods") for i in range(k)).encode() + b"</collection>\n"
        delivery_id, load_s = await _deliver(pool, body)
        records = filler * 2 + k * 2
        print(f"load the delivery ({records:,} records, {len(body) / 1e6:.1f} MB): {load_s:.2f} s "
              f"({load_s / records * 1e6:.0f} µs a record)")
        async with pool.acquire() as conn:
            items = await review.list_items(conn)
            assert len(items) == k, len(items)
            last = max(it["position"] for it in items)
            reads = []
            for _ in range(3):
                t0 = time.perf_counter()
                assert await incoming_record(conn, delivery_id, last, "FORVARV") is not None
                reads.append(time.perf_counter() - t0)
            print(f"read the last incoming record back (position {last:,}): {_ms(reads)}")
            times: dict[str, list[float]] = {"keep": [], "merge": [], "separate": [], "record detail": []}
            for n, it in enumerate(items):
                action = ("keep", "merge", "separate")[n % 3]
                other = next(c for c in it["candidates"] if c != it["record_id"])
                t0 = time.perf_counter()
                done = await review.resolve(conn, it["id"], action,
                                            record_id=None if action == "separate" else other, actor="bench")
                times[action].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await provenance.record_detail(conn, int(done["record_id"]))
                times["record detail"].append(time.perf_counter() - t0)
        for name, values in times.items():
            print(f"{name:<14}{_ms(values)}  (n={len(values)})")
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000, help="filler books before the ambiguous ones")
    parser.add_argument("--ambiguous", type=int, default=12)
    args = parser.parse_args()
    with benchdb.database("review") as url:
        asyncio.run(run(url, args.records, args.ambiguous))


if __name__ == "__main__":
    main()
