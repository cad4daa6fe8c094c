"""Benchmark: a full OAI-PMH marc21 harvest against its ceiling.

    python bench/harvest.py [--records N] [--page-size 500]

Starts an embedded PostgreSQL in a temporary folder (or, with FORVARV_DATABASE_URL, makes a
scratch database on that server and drops it afterwards), bulk-loads N realistic bibliographic
records (~1.6 KB of MARCXML each) with one holding each and supplier links, by SQL. Then, with
the OAI endpoint in a separate process and a plain HTTP client here:

* harvest:  ListRecords metadataPrefix=marc21 set=bib, page after page, records/s (identity
            encoding, like the ceiling; --gzip adds a harvest with Accept-Encoding: gzip);
* ceiling:  the same stored XML streamed out of PostgreSQL over HTTP by a bare handler in the
            same server process (one server-side cursor, no OAI work), records/s;
* DB only:  the same rows read with an asyncpg cursor in this process (no HTTP), for reference;
* pages:    time of the last page / the first (and / the first resumed page, since the first
            page also counts the list for completeListSize).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchdb  # noqa: E402  (bench/, beside this script)

from gateway.store import db, migrations  # noqa: E402

SECRET = "bench-secret"
LIBRARIES = ["S", "Sods", "Gdig", "Uu", "L"]
TOKEN = re.compile(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>")

LOAD_BIBS = r"""
INSERT INTO bib_records (id, match_class, encoding_level, marcxml, summary, supplier_id, created_at, modified_at)
SELECT id, 'am', '8',
  '<record xmlns="http://www.loc.gov/MARC21/slim" type="Bibliographic">'
  || '<leader>01642nam a2200433 i 4500</leader>'
  || '<controlfield tag="001">' || id || '</controlfield>'
  || '<controlfield tag="003">FORVARV</controlfield>'
  || '<controlfield tag="005">20250101120000.0</controlfield>'
  || '<controlfield tag="008">250101s2025    sw ||||| |||||000 ||swe d</controlfield>'
  || '<datafield tag="020" ind1=" " ind2=" "><subfield code="a">' || isbn || '</subfield>'
  || '<subfield code="q">inbunden</subfield></datafield>'
  || '<datafield tag="035" ind1=" " ind2=" "><subfield code="a">(BOKR)' || isbn || '</subfield></datafield>'
  || '<datafield tag="040" ind1=" " ind2=" "><subfield code="a">BOKR</subfield></datafield>'
  || '<datafield tag="041" ind1=" " ind2=" "><subfield code="a">swe</subfield></datafield>'
  || '<datafield tag="100" ind1="1" ind2=" "><subfield code="a">' || author || '</subfield>'
  || '<subfield code="4">aut</subfield></datafield>'
  || '<datafield tag="245" ind1="1" ind2="0"><subfield code="a">' || title || ' :</subfield>'
  || '<subfield code="b">en roman om ' || word2 || '</subfield>'
  || '<subfield code="c">' || author || '</subfield></datafield>'
  || '<datafield tag="250" ind1=" " ind2=" "><subfield code="a">Första upplagan</subfield></datafield>'
  || '<datafield tag="264" ind1=" " ind2="1"><subfield code="a">Stockholm :</subfield>'
  || '<subfield code="b">Norstedts,</subfield><subfield code="c">2025</subfield></datafield>'
  || '<datafield tag="300" ind1=" " ind2=" "><subfield code="a">' || (100 + id % 400)
  || ' sidor ;</subfield><subfield code="c">22 cm</subfield></datafield>'
  || '<datafield tag="336" ind1=" " ind2=" "><subfield code="b">txt</subfield>'
  || '<subfield code="2">rdacontent</subfield></datafield>'
  || '<datafield tag="337" ind1=" " ind2=" "><subfield code="b">n</subfield>'
  || '<subfield code="2">rdamedia</subfield></datafield>'
  || '<datafield tag="338" ind1=" " ind2=" "><subfield code="b">nc</subfield>'
  || '<subfield code="2">rdacarrier</subfield></datafield>'
  || '<datafield tag="599" ind1=" " ind2=" "><subfield code="a">Maskinellt genererad post. Ändra kod '
  || 'för fullständighetsnivå (leader/17), annars kommer manuellt gjorda ändringar att försvinna.'
  || '</subfield></datafield>'
  || '<datafield tag="650" ind1=" " ind2="7"><subfield code="a">Skönlitteratur</subfield>'
  || '<subfield code="2">sao</subfield></datafield>'
  || '<datafield tag="650" ind1=" " ind2="7"><subfield code="a">' || initcap(word2) || '</subfield>'
  || '<subfield code="2">sao</subfield></datafield>'
  || '<datafield tag="700" ind1="1" ind2=" "><subfield code="a">Lindqvist, Åsa</subfield>'
  || '<subfield code="4">ill</subfield></datafield>'
  || '</record>',
  jsonb_build_object('title', title, 'creators', jsonb_build_array(author), 'year', '2025',
                     'isbns', jsonb_build_array(isbn), 'language', 'swe', 'type', 'Text'),
  1 + id % 3,
  ts, ts
FROM (
  SELECT 100000 + i AS id,
         '97891' || lpad((i % 10000000)::text, 8, '0') AS isbn,
         (ARRAY['Andersson, Anna','Johansson, Erik','Öhman, Örjan','Sjöberg, Karin'])[1 + i % 4] AS author,
         'Hemligheten i ' || (ARRAY['skogen','havet','staden','fjällen','Malmö'])[1 + i % 5] || ' ' || i AS title,
         (ARRAY['kärleken','tiden','minnet','vintern'])[1 + i % 4] AS word2,
         -- loader batches: 500 records share one transaction start time
         timestamptz '2025-01-01 00:00:00+00' + (i / 500) * interval '1 second' AS ts
  FROM generate_series($1::bigint, $2::bigint) AS i
) AS g
"""

LOAD_HOLDINGS = r"""
INSERT INTO holdings (id, bib_id, sigel, supplier_id, marcxml, created_at, modified_at, set_datestamp)
SELECT 500000 + b.id, b.id, l.sigel, b.supplier_id,
  '<record xmlns="http://www.loc.gov/MARC21/slim" type="Holdings">'
  || '<leader>00170nx  a22000971n 4500</leader>'
  || '<controlfield tag="001">' || (500000 + b.id) || '</controlfield>'
  || '<controlfield tag="003">FORVARV</controlfield>'
  || '<controlfield tag="004">' || b.id || '</controlfield>'
  || '<controlfield tag="008">250101||0000|||||000||||||000000</controlfield>'
  || '<datafield tag="852" ind1=" " ind2=" "><subfield code="b">' || l.sigel || '</subfield>'
  || '<subfield code="h">Hc.01</subfield></datafield></record>',
  b.modified_at, b.modified_at, b.modified_at
FROM bib_records b
JOIN (SELECT sigel, row_number() OVER (ORDER BY sigel) - 1 AS n FROM libraries) l ON l.n = b.id % 5
WHERE b.id BETWEEN $1 AND $2
"""


async def load(url: str, n: int) -> None:
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn)
        if await conn.fetchval("SELECT count(*) FROM bib_records") == n:
            print(f"reusing {n:,} records")
            return
        await conn.execute("TRUNCATE bib_records, holdings, bib_suppliers, libraries, suppliers CASCADE")
        for code in ("BOKR", "ADLI", "BTJ"):
            await conn.execute("INSERT INTO suppliers (code, name) VALUES ($1, $1)", code)
        for sigel in LIBRARIES:
            await conn.execute("INSERT INTO libraries (sigel, name) VALUES ($1, $1)", sigel)
        t = time.perf_counter()
        step = 50_000
        for lo in range(1, n + 1, step):
            hi = min(n, lo + step - 1)
            await conn.execute(LOAD_BIBS, lo, hi)
            await conn.execute(LOAD_HOLDINGS, 100000 + lo, 100000 + hi)
            # the flag the loader sets when it writes a record (migration 0006); NULL would mean
            # "clean it on the way out", which loaded records never need
            await conn.execute("UPDATE bib_records SET xml_unsafe = xml_unsafe(marcxml) "
                               "WHERE id BETWEEN $1 AND $2", 100000 + lo, 100000 + hi)
            await conn.execute("UPDATE holdings SET xml_unsafe = xml_unsafe(marcxml) "
                               "WHERE bib_id BETWEEN $1 AND $2", 100000 + lo, 100000 + hi)
            print(f"\rloaded {hi:,} records", end="", flush=True)
        await conn.execute(
            "INSERT INTO bib_suppliers (bib_id, supplier_id) SELECT id, supplier_id FROM bib_records"
        )
        await conn.execute("VACUUM ANALYZE bib_records, holdings, bib_suppliers")
        size = await conn.fetchval("SELECT avg(octet_length(marcxml))::int FROM bib_records")
        print(f"\rloaded {n:,} records ({size} bytes of MARCXML each) in {time.perf_counter() - t:.1f} s")
    finally:
        await conn.close()


# --- the server process ---------------------------------------------------------------------
async def serve(url: str, port: int, page_size: int, batch: int | None) -> None:
    from aiohttp import web

    from gateway.oai import repository

    if batch:
        repository.BATCH = batch

    from gateway.config import Settings
    from gateway.http.appkeys import POOL, SETTINGS
    from gateway.oai import http as oai_http

    settings = Settings(public_url=f"http://127.0.0.1:{port}", secret=SECRET, oai_page_size=page_size)
    app = web.Application()
    app[SETTINGS] = settings
    app[POOL] = await db.create_pool(url, min_size=2, max_size=4)
    oai_http.setup(app)

    async def raw(request: web.Request) -> web.StreamResponse:
        """The ceiling: the stored XML straight from a cursor, no OAI work."""
        response = web.StreamResponse(headers={"Content-Type": "text/xml; charset=utf-8"})
        await response.prepare(request)
        async with app[POOL].acquire() as conn, conn.transaction():
            cursor = conn.cursor("SELECT marcxml FROM bib_records ORDER BY modified_at, id", prefetch=page_size)
            batch: list[str] = []
            async for row in cursor:
                batch.append(row[0])
                if len(batch) == page_size:
                    await response.write("".join(batch).encode("utf-8"))
                    batch = []
            await response.write("".join(batch).encode("utf-8"))
        await response.write_eof()
        return response

    app.router.add_get("/raw", raw)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


# --- the client -----------------------------------------------------------------------------
async def harvest(base: str, n: int, encoding: str = "identity") -> tuple[float, list[float]]:
    params: dict[str, str] = {"verb": "ListRecords", "metadataPrefix": "marc21", "set": "bib"}
    pages: list[float] = []
    count = 0
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as s:
        while True:
            t = time.perf_counter()
            async with s.get(f"{base}/oai", params=params, headers={"Accept-Encoding": encoding}) as r:
                body = await r.read()
            pages.append(time.perf_counter() - t)
            count += body.count(b"<record><header")
            m = TOKEN.search(body, max(0, len(body) - 2000))
            if m is None:
                break
            params = {"verb": "ListRecords", "resumptionToken": m.group(1).decode()}
    elapsed = time.perf_counter() - t0
    assert count == n, f"harvested {count} records, expected {n}"
    return elapsed, pages


async def ceiling_http(base: str, n: int) -> float:
    t0 = time.perf_counter()
    count = 0
    headers = {"Accept-Encoding": "identity"}
    async with aiohttp.ClientSession() as s, s.get(f"{base}/raw", headers=headers) as r:
        tail = b""
        async for chunk in r.content.iter_chunked(1 << 20):
            data = tail + chunk  # a closing tag may straddle two chunks
            count += data.count(b"</record>")
            tail = data[-8:]
    assert count == n, f"streamed {count} records, expected {n}"
    return time.perf_counter() - t0


async def ceiling_db(url: str, n: int, page_size: int) -> float:
    conn = await asyncpg.connect(url)
    try:
        t0 = time.perf_counter()
        count = 0
        async with conn.transaction():
            cursor = conn.cursor("SELECT marcxml FROM bib_records ORDER BY modified_at, id", prefetch=page_size)
            async for _ in cursor:
                count += 1
        assert count == n
        return time.perf_counter() - t0
    finally:
        await conn.close()


async def wait_for(base: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(200):
            if proc.poll() is not None:
                raise RuntimeError("the server process exited")
            try:
                async with s.get(f"{base}/oai", params={"verb": "Identify"}) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


async def run(url: str, n: int, page_size: int, batch: int | None, gzip: bool) -> None:
    await load(url, n)
    port = benchdb.free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, __file__, "--serve", url, "--port", str(port), "--page-size", str(page_size)]
    if batch:
        cmd += ["--batch", str(batch)]
    proc = subprocess.Popen(cmd)  # noqa: ASYNC220 - started once, before any measurement
    try:
        await wait_for(base, proc)
        await ceiling_db(url, n, page_size)  # warm the cache once
        db_s = await ceiling_db(url, n, page_size)
        raw_s = await ceiling_http(base, n)
        oai_s, pages = await harvest(base, n)
        gzip_s = (await harvest(base, n, "gzip"))[0] if gzip else None
    finally:
        proc.terminate()
        proc.wait()
    rate, ceiling = n / oai_s, n / raw_s
    print(f"records            {n:,} (page size {page_size}, {len(pages)} pages)")
    print(f"OAI harvest        {rate:,.0f} records/s ({oai_s:.2f} s)")
    print(f"ceiling (HTTP)     {ceiling:,.0f} records/s ({raw_s:.2f} s)")
    print(f"ratio              {100 * rate / ceiling:.0f} % of ceiling")
    print(f"DB only (cursor)   {n / db_s:,.0f} records/s ({db_s:.2f} s)")
    if gzip_s:
        print(f"OAI harvest, gzip  {n / gzip_s:,.0f} records/s ({gzip_s:.2f} s)")
    if len(pages) > 2:
        median = statistics.median(pages)
        print(f"first page         {1000 * pages[0]:.1f} ms (counts the list for completeListSize)")
        print(f"first resumed page {1000 * pages[1]:.1f} ms; median {1000 * median:.1f} ms")
        print(f"last page          {1000 * pages[-1]:.1f} ms")
        print(f"last / first       {pages[-1] / pages[0]:.2f}")
        print(f"last / 1st resumed {pages[-1] / pages[1]:.2f}")
        tail = pages[-10:]
        head = pages[1:11]
        print(f"last 10 / first 10 resumed (mean) {statistics.mean(tail) / statistics.mean(head):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--batch", type=int, help="rows per list query (default: the repository's)")
    parser.add_argument("--gzip", action="store_true", help="also harvest with Accept-Encoding: gzip")
    parser.add_argument("--data-dir", type=Path, help="keep the embedded PostgreSQL here (and reuse its data)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.port, args.page_size, args.batch))
        return
    # --data-dir is kept: a second run with the same --records reuses the loaded data
    with benchdb.database("bench_harvest", args.data_dir) as url:
        asyncio.run(run(url, args.records, args.page_size, args.batch, args.gzip))


if __name__ == "__main__":
    main()
