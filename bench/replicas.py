"""Benchmark: a full OAI-PMH harvest read from a streaming replica, beside the same from the primary.

    python bench/replicas.py [--records N] [--rounds 3]

Starts an embedded PostgreSQL (the primary) in a temporary folder, loads N records with
bench/harvest.py's loader, makes a streaming replica of it from the same binaries
(pg_basebackup, standby.signal, primary_conninfo: tests/replicas/conftest.py) and runs two
gateways on loopback in this process: one reading from the replica (read_database_urls), one
from the primary only (the peer). After one unmeasured harvest through each (warm caches), in
alternating rounds it harvests ListRecords marc21 set=bib in full through each and prints
records/s of each, their ratio, and the replica's reads and lag as the gateway saw them. Both
gateways and the client share this process and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import benchdb  # noqa: E402  (bench/, beside this script)
import harvest as harvest_bench  # noqa: E402

from gateway.config import Settings  # noqa: E402
from gateway.http.app import create_app  # noqa: E402
from gateway.http.reads import replica_status  # noqa: E402
from gateway.store import embedded  # noqa: E402
from tests.replicas.conftest import Cluster, _make_replica  # noqa: E402


@asynccontextmanager
async def gateway(primary: str, replica: str | None, data_dir: Path) -> AsyncIterator[tuple[str, web.Application]]:
    port = benchdb.free_port()
    settings = Settings(database_url=primary, data_dir=data_dir, public_url=f"http://127.0.0.1:{port}",
                        secret="bench-secret", oai_page_size=500, parse_process=False,
                        read_database_urls=(replica,) if replica else ())
    app = create_app(settings, database_url=primary, run_workers=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


async def run(root: Path, n: int, rounds: int) -> None:
    url = embedded.start(root / "primary")
    socket_dir = Path(url.split("host=", 1)[1].split("&", 1)[0])
    primary = url  # the embedded server's database
    await harvest_bench.load(primary, n)
    cluster = Cluster(socket_dir, root / "replica")
    print("making the replica (pg_basebackup) ...", flush=True)
    _make_replica(socket_dir, cluster.replica_dir)
    cluster.start_replica()
    try:
        await cluster.caught_up()
        replica = cluster.replica_url(embedded.DATABASE)
        async with gateway(primary, replica, root / "a") as (via_replica, app), \
                gateway(primary, None, root / "b") as (via_primary, _):
            for _ in range(300):  # the first checks
                status = replica_status(app)
                if status is not None and status["replicas"][0]["usable"]:
                    break
                await asyncio.sleep(0.2)
            for base in (via_replica, via_primary):  # warm each server's cache once, unmeasured
                await harvest_bench.harvest(base, n)
            rates: dict[str, list[float]] = {"replica": [], "primary": []}
            for i in range(rounds):
                order = [("replica", via_replica), ("primary", via_primary)]
                for name, base in order if i % 2 == 0 else order[::-1]:
                    elapsed, _ = await harvest_bench.harvest(base, n)
                    rates[name].append(n / elapsed)
                    print(f"round {i + 1}: {name:8} {n / elapsed:10,.0f} rec/s", flush=True)
            status = replica_status(app)
            assert status is not None
            state = status["replicas"][0]
            r, p = statistics.median(rates["replica"]), statistics.median(rates["primary"])
            print(f"\n{n:,} records, {rounds} rounds, median full harvest (marc21, set=bib, pages of 500):")
            print(f"  from the replica {r:10,.0f} rec/s")
            print(f"  from the primary {p:10,.0f} rec/s (peer)")
            print(f"  ratio            {r / p:10.2f}")
            print(f"  replica: {state['reads']} reads, lag {state['lag_seconds']} s, "
                  f"{status['fallbacks']} fell back to the primary")
    finally:
        cluster.stop_replica()
        embedded.stop(root / "primary")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="forvarv-bench-repl-") as tmp:
        os.chmod(tmp, 0o755)  # the servers run as an unprivileged user when we are root
        asyncio.run(run(Path(tmp), args.records, args.rounds))


if __name__ == "__main__":
    main()
