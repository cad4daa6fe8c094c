"""Ingest benchmark: a supplier delivery end to end (POST → done), against two ceilings.

    python bench/ingest.py                      # 20,000 records, 3 rounds
    python bench/ingest.py --records 100000 --rounds 1
    python bench/ingest.py --rss-mb 200         # also a ~200 MB delivery, for the RSS bound
    python bench/ingest.py --real               # real records (LoC + Libris, bench/real_delivery.py)
    python bench/ingest.py --real --peer /tmp/forvarv-main   # A/B: another checkout's gateway alternating

With --peer, a second `forvarv serve` runs from that checkout (the code before a change, say:
`git archive main | tar -x -C /tmp/forvarv-main`), on a database of its own on the same
PostgreSQL server (migrated by this checkout: the two must have the same migrations), and is
measured in every round beside this checkout's gateway, the order alternating; gateway/peer is
the ratio of the two.

The gateway runs as its own process (`forvarv serve`, one worker) on loopback; the delivery is
streamed to it with a plain HTTP client. Its peak RSS (with the second process it prepares
records in) is sampled from /proc while it works.
In the same run, on the same records, alternating with the gateway (bare, fair, gateway in one
round, gateway, fair, bare in the next, every table emptied before each), the two ceilings of
bench/fair_ceiling.py: the bare one (lxml iterparse + COPY of the serialised records into one
table) and the fair one (parse and extract in a second process while COPYing batches of 500 into
the real schema with its indexes and search index). Each line gives the CPU per pair of this run's
PostgreSQL server (its postmaster's process tree: other servers on the machine are left out),
the gateway's processes and this one (with the fair ceiling's second process). The gateway's time
is POST → done; "searchable" is until its search index queue is empty as well.
Uses a scratch database on FORVARV_DATABASE_URL's server if set (its server must be on this machine
for the CPU figures), else an embedded PostgreSQL in a temporary folder (bench/benchdb.py).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchdb  # noqa: E402  (bench/, beside this script)
import fair_ceiling  # noqa: E402  (bench/, beside this script)
import procstat  # noqa: E402  (bench/, beside this script)
import real_delivery  # noqa: E402  (bench/, beside this script)

from gateway.demo import synthetic  # noqa: E402
from gateway.store import db, migrations  # noqa: E402

SIGELS = benchdb.SIGELS


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


async def post(base: str, token: str, chunks: Iterator[bytes],  # type: ignore[type-arg]
               key: str | None = None) -> dict:
    async def body() -> AsyncIterator[bytes]:
        for c in chunks:
            yield c

    timeout = aiohttp.ClientTimeout(total=3600)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/marcxml+xml"}
    if key is not None:
        headers["Idempotency-Key"] = key
    async with aiohttp.ClientSession(timeout=timeout) as session, \
            session.post(f"{base}/deliveries?wait=600", data=body(), headers=headers) as resp:
        report: dict = await resp.json()  # type: ignore[type-arg]
        if resp.status != 200 or report.get("status") != "done":
            raise SystemExit(f"delivery did not finish: {resp.status} {str(report)[:500]}")
        return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of bare ceiling, fair ceiling and gateway, alternating their order")
    ap.add_argument("--rss-mb", type=int, default=0, help="also stream a delivery of about this many MB")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--no-search", action="store_true",
                    help="drop the SRU index triggers (0003_search) first, to see what they cost")
    ap.add_argument("--real", action="store_true",
                    help="real records (LoC + Libris, bench/real_delivery.py) instead of synthetic ones")
    ap.add_argument("--peer", type=Path, default=None,
                    help="another checkout whose gateway is measured beside this one's (A/B)")
    args = ap.parse_args()
    with benchdb.database("bench_ingest") as url, tempfile.TemporaryDirectory(prefix="forvarv-bench-") as tmp:
        asyncio.run(run(url, Path(tmp), args))


async def reset(conn: asyncpg.Connection) -> None:
    """Every record gone (the idle gateway holds no locks), so each measurement starts alike."""
    await conn.execute("TRUNCATE bib_records, delivery_records CASCADE")
    if await conn.fetchval("SELECT to_regclass('search_queue') IS NOT NULL"):
        await conn.execute("TRUNCATE search_queue")
    await conn.execute("CHECKPOINT")


class Measure:
    """Wall time and CPU of one measurement: this run's PostgreSQL server, the gateway's processes,
    this process and its ended children."""

    def __init__(self, postmaster: int, gateway: int) -> None:
        self.postmaster, self.gateway = postmaster, gateway

    def _now(self) -> tuple[float, float, float, float]:
        own = time.process_time() + fair_ceiling._children_cpu()
        return (time.perf_counter(), procstat.server_cpu(self.postmaster),
                sum(p.cpu for p in procstat.tree(self.gateway)), own)

    def __enter__(self) -> Measure:
        self.t0 = self._now()
        return self

    def __exit__(self, *_: object) -> None:
        t1 = self._now()
        self.wall, self.pg, self.gw, self.own = (b - a for a, b in zip(self.t0, t1, strict=True))


async def searchable(conn: asyncpg.Connection) -> None:
    """Until the search index has caught up (nothing left in its queue, when there is one)."""
    if not await conn.fetchval("SELECT to_regclass('search_queue') IS NOT NULL"):
        return
    while await conn.fetchval("SELECT EXISTS (SELECT 1 FROM search_queue)"):  # noqa: ASYNC110
        await asyncio.sleep(0.01)


def start_gateway(root: Path, url: str, data_dir: Path, batch_size: int) -> tuple[subprocess.Popen[bytes], str]:
    """`forvarv serve` (one worker) of the checkout at `root`, on a free loopback port."""
    port = benchdb.free_port()
    data_dir.mkdir(exist_ok=True)
    env = {**os.environ, "FORVARV_DATABASE_URL": url, "FORVARV_DATA_DIR": str(data_dir),
           "FORVARV_BATCH_SIZE": str(batch_size), "FORVARV_SECRET": "bench"}
    # python -m puts the working directory first on the path: the checkout's own gateway package
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return server, f"http://127.0.0.1:{port}"


async def wait_up(base: str) -> None:
    for _ in range(300):
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{base}/deliveries") as r:
                if r.status in (401, 200):
                    return
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
    raise SystemExit(f"no gateway answered at {base}")


class Gateway:
    """One measured gateway: its process, address, token and a connection to its database."""

    def __init__(self, server: subprocess.Popen[bytes], base: str, token: str, conn: asyncpg.Connection) -> None:
        self.server, self.base, self.token, self.conn = server, base, token, conn


async def peer_gateway(url: str, data_dir: Path, args: argparse.Namespace) -> Gateway:
    """The --peer checkout's gateway, on a database of its own beside this run's."""
    admin = await asyncpg.connect(url)
    try:
        await admin.execute("CREATE DATABASE bench_ingest_peer")
    finally:
        await admin.close()
    peer_url = urlunsplit(urlsplit(url)._replace(path="/bench_ingest_peer"))
    token = await seed(peer_url, args.no_search)
    server, base = start_gateway(args.peer.resolve(), peer_url, data_dir / "peer", args.batch_size)
    await wait_up(base)
    return Gateway(server, base, token, await db.connect(peer_url))


async def run(url: str, data_dir: Path, args: argparse.Namespace) -> None:
    token = await seed(url, args.no_search)
    server, base = start_gateway(ROOT, url, data_dir / "gateway", args.batch_size)
    conn = await db.connect(url)
    peer: Gateway | None = None
    try:
        await wait_up(base)
        if args.peer is not None:
            peer = await peer_gateway(url, data_dir, args)
        postmaster = await procstat.postmaster_of(conn)
        supplier_id = await conn.fetchval("SELECT id FROM suppliers WHERE code = 'BENCH'")
        if args.real:
            payload = real_delivery.delivery(args.records, SIGELS)
        else:
            payload = synthetic.delivery(args.records, SIGELS, seed=7)
        expected: dict[str, tuple[int, int]] = {}
        n = args.records
        print(f"delivery: {n} {'real' if args.real else 'synthetic'} records, {len(payload) / 1e6:.1f} MB "
              f"({len(payload) / n / 1024:.2f} KB per record with its holding); "
              f"{args.rounds} rounds, the order alternating; CPU: this run's PostgreSQL server "
              f"(postmaster {postmaster} and its processes) only")
        results: dict[str, list[float]] = {"bare": [], "fair": [], "gateway": [], "searchable": []}
        ratios: dict[str, list[float]] = {"gateway/fair": [], "gateway/bare": [], "fair/bare": [],
                                          "searchable/fair": []}
        kinds = ["bare", "fair", "gateway"]
        gateways = {"gateway": Gateway(server, base, token, conn)}
        if peer is not None:
            kinds.append("peer")
            gateways["peer"] = peer
            results["peer"] = []
            ratios.update({"gateway/peer": [], "peer/fair": []})
            print(f"peer: the gateway of {args.peer.resolve()}, beside this one's")
        # warm-up, not counted: the server's caches, the gateway's second process, the first COPYs
        await fair_ceiling.fair(conn, synthetic.delivery(1000, SIGELS, seed=6, start=5_000_000), supplier_id)
        for gw in gateways.values():
            await post(gw.base, gw.token, iter([synthetic.delivery(1000, SIGELS, seed=5, start=6_000_000)]))
        peak = 0
        base_rss = rss_kb(server.pid)[0]
        for rnd in range(args.rounds):
            order = kinds if rnd % 2 == 0 else kinds[::-1]
            rates: dict[str, float] = {}
            for kind in order:
                gw = gateways.get(kind, gateways["gateway"])
                await reset(gw.conn)
                m = Measure(postmaster, gw.server.pid)
                if kind == "bare":
                    with m:
                        _, records = await fair_ceiling.bare(url, payload)
                    assert records == 2 * n, records
                elif kind == "fair":
                    with m:
                        _, records, _ = await fair_ceiling.fair(conn, payload, supplier_id)
                    assert records == 2 * n, records
                else:
                    with Sampler(gw.server.pid) as sampler, m:
                        report = await post(gw.base, gw.token, iter([payload[i:i + 262144]
                                                                     for i in range(0, len(payload), 262144)]),
                                            key=f"round-{rnd}")
                        done_at = time.perf_counter()
                        await searchable(gw.conn)
                    if kind == "gateway":
                        peak = max(peak, sampler.peak)
                    summary = report["summary"]
                    outcome = (summary["created"], summary["holdings_added"])
                    if not args.real:
                        assert outcome == (n, n), summary
                    # real records: some are refused (bad ISBNs and all), the same ones every time
                    assert outcome == expected.setdefault("outcome", outcome), summary
                    done = done_at - m.t0[0]
                    if kind == "gateway":
                        rates["searchable"] = n / m.wall
                        results["searchable"].append(rates["searchable"])
                    m.wall = done
                rates[kind] = n / m.wall
                results[kind].append(rates[kind])
                extra = ""
                if kind in ("gateway", "peer"):
                    stamps = [datetime.fromisoformat(report[k]) for k in ("received_at", "started_at", "finished_at")]
                    receiving, loading = ((b - a).total_seconds() for a, b in itertools.pairwise(stamps))
                    extra = f" (receiving {receiving:.2f} s, loading {loading:.2f} s)"
                    if kind == "gateway":
                        extra += f"; searchable (index queue empty) after {n / rates['searchable']:.2f} s"
                print(f"  round {rnd + 1} {kind:<8} {m.wall:6.2f} s {rates[kind]:7,.0f} pairs/s; CPU per pair: "
                      f"PostgreSQL {m.pg / n * 1e6:4.0f} µs, gateway {m.gw / n * 1e6:4.0f} µs, "
                      f"bench {m.own / n * 1e6:4.0f} µs{extra}")
            for name in ratios:
                a, b = name.split("/")
                ratios[name].append(rates[a] / rates[b])
        print("medians: " + ", ".join(f"{k} {statistics.median(v):,.0f} pairs/s" for k, v in results.items()))
        print("ratios (within each round, then their median): " + "; ".join(
            f"{k} {statistics.median(v):.2f} ({', '.join(f'{x:.2f}' for x in v)})" for k, v in ratios.items()))
        print(f"gateway RSS: {base_rss / 1024:.0f} MB before, peak {peak / 1024:.0f} MB")

        if args.rss_mb:
            per_record = len(payload) / n
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
        await conn.close()
        server.terminate()
        server.wait(timeout=30)
        if peer is not None:
            await peer.conn.close()
            peer.server.terminate()
            peer.server.wait(timeout=30)


if __name__ == "__main__":
    main()
