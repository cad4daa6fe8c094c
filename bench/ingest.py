"""Ingest benchmark: a supplier delivery end to end (POST → done), against the ceiling.

    python bench/ingest.py                      # 20,000 records
    python bench/ingest.py --records 100000
    python bench/ingest.py --rss-mb 200         # also a ~200 MB delivery, for the RSS bound

The gateway runs as its own process (`forvarv serve`, one worker) on loopback; the delivery is
streamed to it with a plain HTTP client. Its peak RSS (with the second process it prepares
records in) is sampled from /proc while it works.
The ceiling is measured in the same run on the same records: lxml iterparse of the payload and
asyncpg COPY of every record's serialised XML into a table — parse and store, no validation,
no matching, no HTTP. Uses a scratch database on FORVARV_DATABASE_URL's server if set, else an
embedded PostgreSQL in a temporary folder (bench/benchdb.py).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import aiohttp
import asyncpg
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchdb  # noqa: E402  (bench/, beside this script)
import procstat  # noqa: E402  (bench/, beside this script)

from gateway.demo import synthetic  # noqa: E402
from gateway.store import db, migrations  # noqa: E402

SIGELS = benchdb.SIGELS
MARC = "{http://www.loc.gov/MARC21/slim}record"


def rss_kb(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) in kB of a process and its descendants, added up."""
    cur = peak = 0
    for p in procstat.tree(pid):
        try:
            lines = Path(f"/proc/{p.pid}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmRSS:"):
                cur += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak += int(line.split()[1])
    return cur, peak


async def seed(url: str, no_search: bool = False) -> str:
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn)
        if no_search:
            await benchdb.drop_search_triggers(conn)
        return await benchdb.register_supplier(conn)
    finally:
        await conn.close()


async def ceiling(url: str, payload: bytes) -> tuple[float, int]:
    """lxml iterparse + asyncpg COPY of the same records: records/s."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_ceiling; CREATE TABLE bench_ceiling (n int, x text)")
        t0 = time.perf_counter()
        rows: list[tuple[int, str]] = []
        n = 0
        for _, elem in etree.iterparse(io.BytesIO(payload), events=("end",), tag=MARC,
                                       resolve_entities=False, no_network=True):
            n += 1
            rows.append((n, etree.tostring(elem, encoding="unicode")))
            elem.clear()
            if len(rows) >= 500:
                await conn.copy_records_to_table("bench_ceiling", records=rows)
                rows = []
        if rows:
            await conn.copy_records_to_table("bench_ceiling", records=rows)
        elapsed = time.perf_counter() - t0
        await conn.execute("DROP TABLE bench_ceiling")
        return n / elapsed, n
    finally:
        await conn.close()


class Sampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_kb(self.pid)[0])
            await asyncio.sleep(0.05)

    def __enter__(self) -> Sampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def post(base: str, token: str, chunks: Iterator[bytes]) -> dict:  # type: ignore[type-arg]
    async def body() -> AsyncIterator[bytes]:
        for c in chunks:
            yield c

    timeout = aiohttp.ClientTimeout(total=3600)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/marcxml+xml"}
    async with aiohttp.ClientSession(timeout=timeout) as session, \
            session.post(f"{base}/deliveries?wait=600", data=body(), headers=headers) as resp:
        report: dict = await resp.json()  # type: ignore[type-arg]
        if resp.status != 200 or report.get("status") != "done":
            raise SystemExit(f"delivery did not finish: {resp.status} {str(report)[:500]}")
        return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--rss-mb", type=int, default=0, help="also stream a delivery of about this many MB")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--no-search", action="store_true",
                    help="drop the SRU index triggers (0003_search) first, to see what they cost")
    args = ap.parse_args()
    with benchdb.database("bench_ingest") as url, tempfile.TemporaryDirectory(prefix="forvarv-bench-") as tmp:
        asyncio.run(run(url, Path(tmp), args))


async def run(url: str, data_dir: Path, args: argparse.Namespace) -> None:
    token = await seed(url, args.no_search)
    port = benchdb.free_port()
    env = {**os.environ, "FORVARV_DATABASE_URL": url, "FORVARV_DATA_DIR": str(data_dir),
           "FORVARV_BATCH_SIZE": str(args.batch_size), "FORVARV_SECRET": "bench"}
    server = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                async with aiohttp.ClientSession() as s, s.get(f"{base}/deliveries") as r:
                    if r.status in (401, 200):
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        payload = synthetic.delivery(args.records, SIGELS, seed=7)
        print(f"delivery: {args.records} records, {len(payload) / 1e6:.1f} MB "
              f"({len(payload) / args.records / 1024:.2f} KB per record with its holding)")
        base_rss = rss_kb(server.pid)[0]
        with Sampler(server.pid) as sampler:
            t0 = time.perf_counter()
            report = await post(base, token, iter([payload[i:i + 262144]
                                                    for i in range(0, len(payload), 262144)]))
            e2e = time.perf_counter() - t0
        summary = report["summary"]
        assert summary["created"] == args.records, summary
        rate = args.records / e2e
        print(f"end to end (POST -> done): {e2e:.2f} s, {rate:,.0f} records/s "
              f"(created {summary['created']}, holdings {summary['holdings_added']})")
        stamps = [datetime.fromisoformat(report[k]) for k in ("received_at", "started_at", "finished_at")]
        receiving, loading = ((b - a).total_seconds() for a, b in itertools.pairwise(stamps))
        print(f"  of which receiving (stored, 202) to a worker's start {receiving:.2f} s, "
              f"loading {loading:.2f} s ({args.records / loading:,.0f} records/s)")
        print(f"gateway RSS: {base_rss / 1024:.0f} MB before, peak {sampler.peak / 1024:.0f} MB "
              f"(+{(sampler.peak - base_rss) / 1024:.0f} MB)")
        ceil, n = await ceiling(url, payload)
        print(f"ceiling (lxml iterparse + asyncpg COPY, same records): {ceil:,.0f} records/s "
              f"(MARC records: {n} for {args.records} bibliographic records with their holdings, "
              f"i.e. {ceil * args.records / n:,.0f} pairs/s)")
        pairs_ceiling = ceil * args.records / n
        print(f"ratio: {rate / pairs_ceiling:.0%} of the ceiling (bibliographic records with their holdings "
              f"against the same unit; {rate * n / args.records / ceil:.0%} counted as MARC records both ways)")

        if args.rss_mb:
            per_record = len(payload) / args.records
            count = int(args.rss_mb * 1e6 / per_record)
            before = rss_kb(server.pid)[0]
            with Sampler(server.pid) as sampler:
                t0 = time.perf_counter()
                report = await post(base, token, synthetic.delivery_chunks(count, SIGELS, seed=8,
                                                                            start=10_000_000))
                elapsed = time.perf_counter() - t0
            print(f"large delivery: {count} records, ~{args.rss_mb} MB streamed, {elapsed:.1f} s "
                  f"({count / elapsed:,.0f} records/s); gateway RSS {before / 1024:.0f} MB before, "
                  f"peak {sampler.peak / 1024:.0f} MB (+{(sampler.peak - before) / 1024:.0f} MB)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
