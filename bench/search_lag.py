"""How long after its load's commit a record is searchable by SRU, under a sustained load (issue 14).

    python bench/search_lag.py                          # 10 deliveries of 4,000 records
    python bench/search_lag.py --deliveries 20 --records 5000

The gateway runs as its own process (`forvarv serve`, one worker, its search indexer beside it);
the deliveries are all posted at the start, so its worker loads one after the other without a
pause. Meanwhile this process polls every --poll seconds: the bib_records ids committed since the
last look (a record is seen at most one poll after its batch commits), and which of the records
seen are in bib_search, which every SRU search goes through. A record's lag is the time between
the two sightings, so it is exact to about one poll. Every 200th record is also looked up with a
real SRU request (bath.isbn) once it is seen indexed, and must be found.
Uses a scratch database on FORVARV_DATABASE_URL's server if set, else an embedded PostgreSQL in a
temporary folder (bench/benchdb.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchdb  # noqa: E402  (bench/, beside this script)
from ingest import wait_up  # noqa: E402  (bench/ingest.py: wait until the gateway answers)

from gateway.demo import synthetic  # noqa: E402
from gateway.store import db, migrations  # noqa: E402

SIGELS = benchdb.SIGELS


async def _post_all(base: str, token: str, args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/marcxml+xml"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as session:
        for k in range(args.deliveries):
            body = synthetic.delivery(args.records, SIGELS, seed=100 + k, start=k * args.records)
            async with session.post(f"{base}/deliveries", data=body, headers=headers) as resp:
                if resp.status != 202:
                    raise SystemExit(f"delivery {k} refused: {resp.status} {await resp.text()}")


async def _sru_found(session: aiohttp.ClientSession, base: str, isbn: str) -> bool:
    params = {"operation": "searchRetrieve", "version": "1.2", "query": f"bath.isbn = {isbn}",
              "maximumRecords": "0"}
    async with session.get(f"{base}/sru", params=params) as resp:
        text = await resp.text()
    found = re.search(r"numberOfRecords>(\d+)<", text)
    return found is not None and found.group(1) == "1"


async def run(url: str, data_dir: Path, args: argparse.Namespace) -> None:
    conn = await db.connect(url)
    await migrations.migrate(conn)
    token = await benchdb.register_supplier(conn)
    port = benchdb.free_port()
    env = {**os.environ, "FORVARV_DATABASE_URL": url, "FORVARV_DATA_DIR": str(data_dir), "FORVARV_SECRET": "bench",
           "FORVARV_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    server = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    total = args.deliveries * args.records
    seen: dict[int, float] = {}
    lags: list[float] = []
    sample_misses = sample_checks = 0
    try:
        await wait_up(base)
        posting = asyncio.create_task(_post_all(base, token, args))
        last = 0
        t0 = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            while len(lags) < total:
                now = time.perf_counter()
                for r in await conn.fetch("SELECT id FROM bib_records WHERE id > $1 ORDER BY id", last):
                    seen[r["id"]] = now
                    last = r["id"]
                if seen:
                    indexed = await conn.fetch("SELECT bib_id FROM bib_search WHERE bib_id = ANY($1::bigint[])",
                                               list(seen))
                    now = time.perf_counter()
                    for r in indexed:
                        lags.append(now - seen.pop(r["bib_id"]))
                        if len(lags) % 200 == 0:
                            isbn = await conn.fetchval(
                                "SELECT value FROM bib_identifiers WHERE bib_id = $1 AND kind = 'isbn'", r["bib_id"])
                            sample_checks += 1
                            sample_misses += not await _sru_found(session, base, isbn)
                if posting.done() and posting.exception() is not None:
                    raise posting.exception()  # type: ignore[misc]
                await asyncio.sleep(args.poll)
        elapsed = time.perf_counter() - t0
        await posting
        lags.sort()

        def pct(p: float) -> float:
            return lags[min(len(lags) - 1, int(p * len(lags)))]

        print(f"{total} records in {args.deliveries} deliveries of {args.records}, loaded back to back in "
              f"{elapsed:.1f} s ({total / elapsed:,.0f} records/s with receiving); poll every {args.poll * 1e3:.0f} ms")
        print(f"commit -> searchable: median {statistics.median(lags):.2f} s, p90 {pct(0.9):.2f} s, "
              f"p99 {pct(0.99):.2f} s, max {lags[-1]:.2f} s (target: p99 <= 2 s)")
        print(f"SRU checks of indexed records: {sample_checks - sample_misses}/{sample_checks} found")
    finally:
        await conn.close()
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deliveries", type=int, default=10)
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--poll", type=float, default=0.02)
    args = ap.parse_args()
    with benchdb.database("bench_search_lag") as url, tempfile.TemporaryDirectory(prefix="forvarv-bench-") as tmp:
        asyncio.run(run(url, Path(tmp), args))


if __name__ == "__main__":
    main()
