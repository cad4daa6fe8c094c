"""Retention benchmark: what `forvarv prune` frees, and how fast it runs beside loading.

    python bench/prune.py                                  # 4 deliveries of 5,000 records
    python bench/prune.py --deliveries 2 --records 20000

Loads synthetic deliveries (each book with one holding: gateway.demo.synthetic, as bench/scale.py)
through a real `forvarv serve`, marks their notifications sent (the bench has no mail server; the
mailer spools them anyway), dates them a year back, then:
  * sizes `delivery_chunks` and `delivery_records` (heap, TOAST and indexes, after VACUUM FULL, so
    the figure is what the rows take and not free space left by earlier work);
  * `forvarv prune --dry-run` (its estimate), then `forvarv prune` with both periods, timed;
  * sizes the two tables again the same way.
It prints the bytes per record pair before and after, what prune said it freed beside what the
sizes say, and the pairs pruned per second beside the pairs loaded per second in the same run
(the peer: loading wrote what prune removes). Uses a scratch database on FORVARV_DATABASE_URL's
server if set, else an embedded PostgreSQL in a temporary folder (bench/benchdb.py).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import benchdb  # noqa: E402  (bench/, beside this script)
import scale  # noqa: E402

from gateway.store import db  # noqa: E402

TABLES = ("delivery_chunks", "delivery_records")
FREED = re.compile(r"about ([\d,.]+) MB")


async def sizes(url: str) -> dict[str, int]:
    conn = await db.connect(url)
    try:
        for t in TABLES:
            await conn.execute(f"VACUUM FULL {t}")
        return {t: int(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", t)) for t in TABLES}
    finally:
        await conn.close()


def prune(url: str, *extra: str) -> tuple[str, float]:
    env = {**os.environ, "FORVARV_DATABASE_URL": url}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "prune", "--payloads-older-than", "30",
                           "--results-older-than", "30", *extra], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout, time.perf_counter() - t0


def freed_mb(out: str) -> float:
    found = FREED.search(out.splitlines()[-1])
    return float(found.group(1).replace(",", "")) if found else float("nan")


async def run(url: str, args: argparse.Namespace) -> None:
    token = await scale._prepare(url, Path(tempfile.mkdtemp(prefix="forvarv-prune-")) / "token")
    rates = []
    async with scale.gateway(url) as base:
        for i in range(args.deliveries):
            rates.append(await scale.deliver(base, token, args.records, start=i * args.records, seed=i))
    pairs = args.deliveries * args.records
    conn = await db.connect(url)
    try:
        await conn.execute("UPDATE notifications SET status = 'sent' WHERE status IN ('pending', 'held', 'sending')")
        await conn.execute("UPDATE webhook_events SET status = 'sent' WHERE status IN ('pending', 'sending')")
        await conn.execute("UPDATE deliveries SET finished_at = finished_at - interval '365 days'")
    finally:
        await conn.close()
    before = await sizes(url)
    dry, _ = prune(url, "--dry-run")
    out, seconds = prune(url)
    after = await sizes(url)
    print(f"{args.deliveries} deliveries of {args.records:,} records with a holding each ({pairs:,} pairs)")
    for t in TABLES:
        print(f"  {t:<17} {before[t]:>12,} B ({before[t] / pairs:,.0f} B per pair) -> {after[t]:>12,} B "
              f"({after[t] / pairs:,.0f} B per pair)")
    total = sum(before.values()) - sum(after.values())
    print(f"  freed by the sizes: {total / 1e6:,.1f} MB ({total / pairs:,.0f} B per pair); "
          f"prune's estimate: {freed_mb(dry):,.1f} MB (dry run), {freed_mb(out):,.1f} MB (run)")
    print(f"  prune: {seconds:,.1f} s, {pairs / seconds:,.0f} pairs/s (process start included); "
          f"loading the same: {statistics.median(rates):,.0f} pairs/s (median of {len(rates)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deliveries", type=int, default=4)
    ap.add_argument("--records", type=int, default=5000)
    args = ap.parse_args()
    with benchdb.database("prune") as url:
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()
