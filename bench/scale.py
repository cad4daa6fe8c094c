"""Scale benchmark: the gateway holding a million records (docs/scaling.md).

    python bench/scale.py fill --data-dir /work/scale/db --records 1000000 [--per-delivery 50000]
    python bench/scale.py measure --data-dir /work/scale/db [--clients 8] [--seconds 10]

`fill` loads synthetic deliveries (gateway.demo.synthetic: one holding per record) through a real
`forvarv serve` (one worker) into an embedded PostgreSQL kept in DATA_DIR, one delivery at a time,
printing each delivery's rate beside the number of records already there; run it again to go on
where it stopped (a delivery it was loading is finished first). Everything in the database is what
the gateway itself wrote.

`measure`, on the filled database, in one run:
  * size: the database and its largest tables and indexes, bytes per record with its holding;
  * ingest growth: a 20,000-record delivery into the full database and one into an empty database
    on the same server, alternated (empty, full, empty, full), each rate and the ratio;
  * harvests: a full ListRecords marc21 (every page, records/s, first and last page times), and an
    incremental one (`from` = just before the last delivery);
  * SRU: ISBN lookups and keyword searches (10 records a page) and count-only keyword searches,
    CLIENTS concurrent clients for SECONDS each: requests/s, p50 and p99 latency, without the
    gateway's SRU result cache unless --sru-cache-mb says otherwise (the queries repeat), and the
    count of title searches of 1 … 5 words in PostgreSQL alone against their hits;
  * beside each ingest, harvest and SRU figure, the CPU it cost per item: the gateways (with their
    second process) and this run's PostgreSQL server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchdb  # noqa: E402  (bench/, beside this script)
import procstat  # noqa: E402

from gateway.demo import synthetic  # noqa: E402
from gateway.store import db, migrations  # noqa: E402

SIGELS = benchdb.SIGELS
TOKEN_RE = re.compile(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>")
HEADER_RE = re.compile(rb"<header[ >]")
TOKEN_FILE = "bench-token"
FILLED_FILE = "bench-filled"   # how many books `fill` delivered (serials 0 … n-1)
GATEWAYS: set[int] = set()     # pids of the gateways running now (their CPU is counted)
SRU_CACHE_MB = "0"             # the gateways' SRU result cache (--sru-cache-mb; 0: every search runs)


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def _prepare(url: str, token_file: Path) -> str:
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn)
        if token_file.exists():  # noqa: ASYNC240
            return token_file.read_text().strip()  # noqa: ASYNC240
        token = await benchdb.register_supplier(conn)
        token_file.write_text(token)  # noqa: ASYNC240 (a bench's set-up)
        return token
    finally:
        await conn.close()


@asynccontextmanager
async def gateway(url: str) -> AsyncIterator[str]:
    """`forvarv serve` (one worker) on the database; its base URL."""
    port = benchdb.free_port()
    tmp = tempfile.mkdtemp(prefix="forvarv-scale-")
    env = {**os.environ, "FORVARV_DATABASE_URL": url, "FORVARV_DATA_DIR": tmp, "FORVARV_SECRET": "bench",
           "FORVARV_SRU_MAX_RECORDS": "100", "FORVARV_SRU_CACHE_MB": SRU_CACHE_MB}
    cmd = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env,  # noqa: ASYNC220
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    GATEWAYS.add(proc.pid)
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(600):
                try:
                    async with s.get(f"{base}/oai?verb=Identify") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("the gateway did not start")
        yield base
    finally:
        GATEWAYS.discard(proc.pid)
        proc.terminate()
        proc.wait(timeout=60)


async def deliver(base: str, token: str, count: int, start: int, seed: int, prefix: str = "97891") -> float:
    """POST a synthetic delivery of new books (serials from `start`, ISBNs under `prefix`, so none
    matches a record already there) and wait for it: records/s end to end."""
    def chunks() -> Iterator[bytes]:
        yield from synthetic.delivery_chunks(count, SIGELS, seed=seed, start=start, isbn_prefix=prefix)

    async def body() -> AsyncIterator[bytes]:
        for c in chunks():
            yield c

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/marcxml+xml"}
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=7200)) as s, \
            s.post(f"{base}/deliveries?wait=600", data=body(), headers=headers) as r:
        report = await r.json()
        while report.get("status") in ("received", "processing"):
            await asyncio.sleep(0.5)
            async with s.get(f"{base}/deliveries/{report['id']}", headers=headers) as again:
                report = await again.json()
    elapsed = time.perf_counter() - t0
    if report.get("status") != "done" or report["summary"]["created"] != count:
        raise SystemExit(f"delivery did not load as expected: {str(report)[:400]}")
    return count / elapsed


class Cpu:
    """CPU seconds used by the gateways running now (each with its second process) and by this
    run's PostgreSQL server, read before and after a step: what the step cost per item, which
    other work on the machine changes far less than it changes wall time."""

    def __init__(self, postmaster: int) -> None:
        self.postmaster = postmaster
        self.start = self.read()

    def read(self) -> tuple[float, float]:
        gw = sum(p.cpu for pid in GATEWAYS for p in procstat.tree(pid))
        return gw, procstat.server_cpu(self.postmaster)

    def mark(self) -> None:
        self.start = self.read()

    def per(self, items: int, what: str = "item") -> str:
        gw, pg = self.read()
        g, p = (gw - self.start[0]) / items * 1e6, (pg - self.start[1]) / items * 1e6
        return f"CPU per {what}: gateway {g:,.0f} µs + PostgreSQL {p:,.0f} µs = {g + p:,.0f} µs"


async def postmaster(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await procstat.postmaster_of(conn)
    finally:
        await conn.close()


async def count_records(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM bib_records"))
    finally:
        await conn.close()


async def settle(url: str) -> None:
    """Wait until no delivery is waiting or loading: one a stopped `fill` left is resumed by the
    gateway's worker, and its books must be counted before the next delivery's serials are chosen."""
    conn = await asyncpg.connect(url)
    try:
        while True:
            pending = await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE status IN ('received', 'processing')")
            if not pending:
                return
            await asyncio.sleep(1)
    finally:
        await conn.close()


async def fill(url: str, data_dir: Path, target: int, per_delivery: int) -> None:
    token = await _prepare(url, data_dir / TOKEN_FILE)
    async with gateway(url) as base:
        await settle(url)
        have = await count_records(url)
        while have < target:
            n = min(per_delivery, target - have)
            rate = await deliver(base, token, n, start=have, seed=have + 1)
            print(f"{have:>9,} records there: +{n:,} at {rate:,.0f} records/s", flush=True)
            have += n
            (data_dir / FILLED_FILE).write_text(str(have))
    print(f"{have:,} records")


async def sizes(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        n = await conn.fetchval("SELECT count(*) FROM bib_records")
        h = await conn.fetchval("SELECT count(*) FROM holdings")
        total = await conn.fetchval("SELECT pg_database_size(current_database())")
        print(f"size: {total / 1e9:.2f} GB for {n:,} records and {h:,} holdings: "
              f"{total / n / 1024:.1f} KB per record with its holding")
        tables = await conn.fetch(
            "SELECT c.relname, pg_relation_size(c.oid) AS heap, "
            "pg_table_size(c.oid) - pg_relation_size(c.oid) AS toast, pg_indexes_size(c.oid) AS indexes "
            "FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
            "WHERE s.nspname = 'public' AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid) DESC")
        print(f"  {'table':<28} {'heap':>9} {'TOAST':>9} {'indexes':>9} {'total':>9} (MB)  B/record")
        rest = 0
        for r in tables:
            t = r["heap"] + r["toast"] + r["indexes"]
            if t < total / 200:  # under 0.5 % of the database: summed below
                rest += t
                continue
            print(f"  {r['relname']:<28} {r['heap'] / 1e6:>9,.0f} {r['toast'] / 1e6:>9,.0f} "
                  f"{r['indexes'] / 1e6:>9,.0f} {t / 1e6:>9,.0f}       {t / n:>7,.0f}")
        print(f"  {'(every other table)':<28} {'':>9} {'':>9} {'':>9} {rest / 1e6:>9,.0f}       {rest / n:>7,.0f}")
        indexes = await conn.fetch(
            "SELECT c.relname, t.relname AS tbl, pg_relation_size(c.oid) AS own "
            "FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_namespace s ON s.oid = c.relnamespace "
            "WHERE s.nspname = 'public' ORDER BY pg_relation_size(c.oid) DESC LIMIT 12")
        print("  largest indexes:")
        for r in indexes:
            own = r["own"]
            print(f"    {r['relname']:<40} on {r['tbl']:<22} {own / 1e6:>7,.0f} MB  {own / n:>5,.0f} B/record")
    finally:
        await conn.close()


async def growth(full_url: str, empty_url: str, full_dir: Path, rounds: int, count: int) -> None:
    full_token = await _prepare(full_url, full_dir / TOKEN_FILE)
    empty_token_file = Path(tempfile.mkdtemp(prefix="forvarv-scale-token-")) / TOKEN_FILE
    empty_token = await _prepare(empty_url, empty_token_file)
    base_n = await count_records(full_url)
    rates: dict[str, list[float]] = {"empty": [], "full": []}
    cpu = Cpu(await postmaster(full_url))
    async with gateway(full_url) as full_base, gateway(empty_url) as empty_base:
        for i in range(rounds):
            # serials (and so ISBNs and the payload's hash) new in every run: a second `measure` on
            # the same data must not resend a delivery, which the gateway answers from the first
            first = base_n + i * count
            for kind, base, token, start in (("empty", empty_base, empty_token, 50_000_000 + first),
                                             ("full", full_base, full_token, 60_000_000 + first)):
                cpu.mark()
                rate = await deliver(base, token, count, start=start, seed=900 + first, prefix="97892")
                rates[kind].append(rate)
                print(f"  ingest {count:,} into the {kind} database "
                      f"({'0' if kind == 'empty' else f'{base_n + i * count:,}'} records there): "
                      f"{rate:,.0f} records/s; {cpu.per(count, 'record with its holding')}", flush=True)
    e, f = statistics.median(rates["empty"]), statistics.median(rates["full"])
    print(f"ingest growth: median {f:,.0f} records/s into the full database against {e:,.0f} into an empty "
          f"one: {f / e:.2f}x (target >= 0.8x)")


async def harvest(base: str, since: datetime | None) -> tuple[int, float, list[float]]:
    params = "verb=ListRecords&metadataPrefix=marc21"
    if since is not None:
        params += f"&from={since.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    n, pages = 0, []
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as s:
        url = f"{base}/oai?{params}"
        while True:
            p0 = time.perf_counter()
            async with s.get(url) as r:
                body = await r.read()
            pages.append(time.perf_counter() - p0)
            n += len(HEADER_RE.findall(body))
            m = TOKEN_RE.search(body)
            if not m:
                break
            url = f"{base}/oai?verb=ListRecords&resumptionToken={m.group(1).decode()}"
    return n, time.perf_counter() - t0, pages


async def sru_load(base: str, clients: int, seconds: float, queries: list[str], extra: str, cpu: Cpu) -> None:
    latencies: list[float] = []
    hits: list[int] = []
    deadline = time.perf_counter() + seconds
    rng = random.Random(5)

    async def client(s: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            q = rng.choice(queries)
            t0 = time.perf_counter()
            async with s.get(f"{base}/sru", params={"operation": "searchRetrieve", "version": "1.2",
                                                     "query": q, **dict(p.split("=") for p in extra.split("&"))}) as r:
                body = await r.read()
            latencies.append(time.perf_counter() - t0)
            m = re.search(rb"<(?:\w+:)?numberOfRecords>(\d+)<", body)
            if r.status != 200 or not m:
                raise SystemExit(f"SRU answered {r.status}: {body[:300]!r}")
            hits.append(int(m.group(1)))

    conn = aiohttp.TCPConnector(limit=clients)
    cpu.mark()
    async with aiohttp.ClientSession(connector=conn) as s:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(s) for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"    {len(latencies) / elapsed:,.0f} requests/s, p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms, median hits {statistics.median(hits):,.0f}; {cpu.per(len(latencies), 'request')}")


#: The count-only statement of a title keyword search (gateway/search/repository.py, translate.py).
KEYWORD_COUNT = ("SELECT count(*) FROM bib_search s "
                 "WHERE s.words @@ (SELECT search_tsquery($1::text[], $2::boolean[], 'all', 'A'))")


async def keyword_costs(url: str, words: list[str]) -> None:
    """A title search of 1, 2, … words on one connection (no concurrency, no HTTP): how its time
    follows the number of hits, median of 3."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET jit = off; SET plan_cache_mode = force_generic_plan")  # as the search pool
        for k in range(1, len(words) + 1):
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                hits = await conn.fetchval(KEYWORD_COUNT, words[:k], [False] * k)
                times.append(time.perf_counter() - t0)
            t = statistics.median(times)
            print(f"    dc.title all \"{' '.join(words[:k])}\": {hits:,} hits, {t * 1000:,.0f} ms "
                  f"({t / max(hits, 1) * 1e6:.1f} µs per hit)", flush=True)
    finally:
        await conn.close()


async def measure(url: str, data_dir: Path, args: argparse.Namespace) -> None:
    n = await count_records(url)
    print(f"database in {data_dir}: {n:,} records")
    await sizes(url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP DATABASE IF EXISTS scale_empty WITH (FORCE)")
        await conn.execute("CREATE DATABASE scale_empty")
    finally:
        await conn.close()
    empty_url = _with_db(url, "scale_empty")
    if not args.no_growth:
        await growth(url, empty_url, data_dir, args.rounds, args.growth_records)
    cpu = Cpu(await postmaster(url))
    async with gateway(url) as base:
        since = datetime.now(UTC) - timedelta(seconds=1)
        token = (data_dir / TOKEN_FILE).read_text().strip()
        m = await count_records(url)
        rate = await deliver(base, token, 5_000, start=70_000_000 + m, seed=m, prefix="97893")
        cpu.mark()
        got, elapsed, _ = await harvest(base, since)
        print(f"incremental harvest (from = just before a 5,000-record delivery loaded at {rate:,.0f}/s): "
              f"{got:,} items (records and holdings) in {elapsed:.2f} s; {cpu.per(got)}")
        if not args.no_full:
            cpu.mark()
            got, elapsed, pages = await harvest(base, None)
            print(f"full harvest (ListRecords marc21, no set): {got:,} items (records and holdings) in "
                  f"{elapsed:.0f} s, {got / elapsed:,.0f} items/s; "
                  f"pages: first {pages[0] * 1000:.0f} ms, median {statistics.median(pages) * 1000:.0f} ms, "
                  f"last {pages[-1] * 1000:.0f} ms; {cpu.per(got)}")
        filled = int((data_dir / FILLED_FILE).read_text())
        rng = random.Random(11)   # books of the fill: serials 0 … filled-1 under the default prefix
        isbns = [synthetic.hyphenate(synthetic.isbn13(rng.randrange(min(filled, 10_000_000)))) for _ in range(500)]
        words = ["skogen", "havet", "minnet", "Malmö", "kärleken", "gränsen"]
        pairs = [f'dc.title all "{a} {b}"' for a in words for b in words if a != b]
        print(f"SRU with {args.clients} clients, {args.seconds:.0f} s each:")
        print("  ISBN lookups (bath.isbn=…, hyphenated, records in marcxml):")
        await sru_load(base, args.clients, args.seconds, [f"bath.isbn={i}" for i in isbns],
                       "maximumRecords=10&recordSchema=marcxml", cpu)
        print("  keyword searches (dc.title all \"w1 w2\", first 10 records):")
        await sru_load(base, args.clients, args.seconds, pairs, "maximumRecords=10&recordSchema=marcxml", cpu)
        print("  count-only keyword searches (maximumRecords=0):")
        await sru_load(base, args.clients, args.seconds, pairs, "maximumRecords=0", cpu)
    print("keyword count against hits, one connection in PostgreSQL:")
    await keyword_costs(url, ["skogen", "havet", "minnet", "kärleken", "gränsen"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fill")
    f.add_argument("--data-dir", type=Path, required=True)
    f.add_argument("--records", type=int, default=1_000_000)
    f.add_argument("--per-delivery", type=int, default=50_000)
    m = sub.add_parser("measure")
    m.add_argument("--data-dir", type=Path, required=True)
    m.add_argument("--clients", type=int, default=8)
    m.add_argument("--seconds", type=float, default=10.0)
    m.add_argument("--rounds", type=int, default=2)
    m.add_argument("--growth-records", type=int, default=20_000)
    m.add_argument("--no-growth", action="store_true")
    m.add_argument("--no-full", action="store_true", help="skip the full harvest")
    m.add_argument("--sru-cache-mb", default="0",
                   help="the gateway's SRU result cache (default 0: none, so every search is measured)")
    args = ap.parse_args()
    global SRU_CACHE_MB
    SRU_CACHE_MB = getattr(args, "sru_cache_mb", "0")
    with benchdb.database("scale", args.data_dir) as url:
        if args.cmd == "fill":
            asyncio.run(fill(url, args.data_dir, args.records, args.per_delivery))
        else:
            asyncio.run(measure(url, args.data_dir, args))


if __name__ == "__main__":
    main()
