"""Console benchmark: how long the staff console's pages take beside the machine API's answers
for the same data, measured in the same run.

    python bench/console.py [--records 20000] [--rounds 30]

Starts the gateway in this process on loopback against a scratch database (an embedded
PostgreSQL in a temporary folder, or a scratch database on FORVARV_DATABASE_URL's server),
delivers `--records` synthetic records with holdings (synthetic.py) through POST /deliveries and
waits for the load, then requests each page `--rounds` times, one at a time, with a signed-in
admin session (cookie), and prints the median and the 95th percentile:

  * the Overview (every count of today and the last 7 days) beside GET /deliveries (the list);
  * a delivery's page (header, summary, the first 100 rows) beside its JSON report
    (GET /deliveries/{id}, every record: the ceiling a page of 100 must stay well under);
  * the same page filtered to rejected records (none: the whole delivery is scanned);
  * a record's page (MARC, holdings, identifiers, provenance) beside OAI-PMH GetRecord;
  * the progress JSON a loading page polls once a second beside GET /deliveries/{id}?wait=0's
    short answer path (here: the full report of a small delivery).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchdb

from gateway.config import Settings
from gateway.demo import synthetic
from gateway.http.app import create_app
from gateway.store import db, migrations

ADMIN = "bench-admin-token"


async def timed(http: aiohttp.ClientSession, url: str, rounds: int,
                headers: dict[str, str] | None = None) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        async with http.get(url, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, (url, resp.status)
        out.append((time.perf_counter() - start) * 1000)
    return out


def line(name: str, ms: list[float], peer_name: str = "", peer: list[float] | None = None) -> None:
    def fig(values: list[float]) -> str:
        p95 = statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]
        return f"p50 {statistics.median(values):7.1f} ms  p95 {p95:7.1f} ms"
    text = f"{name:<38} {fig(ms)}"
    if peer is not None:
        text += f"   | {peer_name:<30} {fig(peer)}"
    print(text, flush=True)


async def run(url: str, records: int, rounds: int) -> None:
    port = benchdb.free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="forvarv-bench-console-") as tmp:
        settings = Settings(data_dir=Path(tmp), admin_token=ADMIN, secret="bench", port=port, public_url=base)
        conn = await db.connect(url)
        try:
            await migrations.migrate(conn)
            token = await benchdb.register_supplier(conn)
        finally:
            await conn.close()
        runner = web.AppRunner(create_app(settings, database_url=url))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # an IP host
                api = {"Authorization": f"Bearer {token}"}
                body = synthetic.delivery(records, benchdb.SIGELS, seed=3)
                started = time.perf_counter()
                async with http.post(f"{base}/deliveries?wait=600", data=body,
                                     headers={**api, "Content-Type": "application/marcxml+xml"}) as resp:
                    big = (await resp.json())
                print(f"delivered and loaded {records:,} records with holdings in "
                      f"{time.perf_counter() - started:.1f} s (delivery {big['id']})", flush=True)
                async with http.post(f"{base}/deliveries?wait=60", data=synthetic.delivery(
                        10, benchdb.SIGELS, seed=4, start=10**6),
                        headers={**api, "Content-Type": "application/marcxml+xml"}) as resp:
                    small = await resp.json()
                async with http.get(f"{base}/console/sign-in") as resp:
                    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', await resp.text())
                assert csrf
                async with http.post(f"{base}/console/sign-in", data={"csrf": csrf.group(1), "token": ADMIN},
                                     allow_redirects=False) as resp:
                    assert resp.status == 303
                admin = {"Authorization": f"Bearer {ADMIN}"}
                rid = big["records"][0]["record_id"]
                line("Overview /", await timed(http, f"{base}/", rounds),
                     "GET /deliveries (list)", await timed(http, f"{base}/deliveries", rounds, admin))
                line(f"delivery page ({records:,} records)", await timed(
                        http, f"{base}/console/deliveries/{big['id']}", rounds),
                     "JSON report (all records)", await timed(http, f"{base}/deliveries/{big['id']}",
                                                              max(3, rounds // 10), admin))
                line("delivery page, rejected only", await timed(
                    http, f"{base}/console/deliveries/{big['id']}?outcome=rejected", rounds))
                identifier = f"oai:{settings.repository_id}:bib/{rid}"
                line("record page", await timed(http, f"{base}/console/records/{rid}", rounds),
                     "OAI-PMH GetRecord", await timed(
                         http, f"{base}/oai?verb=GetRecord&metadataPrefix=marc21&identifier={identifier}", rounds))
                line(f"progress JSON ({records:,} records)", await timed(
                        http, f"{base}/console/deliveries/{big['id']}/progress", rounds),
                     "JSON report (10 records)", await timed(http, f"{base}/deliveries/{small['id']}", rounds, admin))
                line("search page (one word, 20 hits)", await timed(http, f"{base}/console/search?q=skogen", rounds),
                     "SRU searchRetrieve (same, 20)", await timed(
                         http, f"{base}/sru?query=skogen&maximumRecords=20", rounds))
        finally:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with benchdb.database("console") as url:
        asyncio.run(run(url, args.records, args.rounds))


if __name__ == "__main__":
    main()
