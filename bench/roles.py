"""Benchmark: how much an HTTP flood on the web process slows a delivery loaded by a worker process,
with the roles apart (`forvarv web` + `forvarv worker`) beside all in one (`forvarv serve`).

    python bench/roles.py [--records 3000] [--rounds 2] [--concurrency 32]

One database (embedded in a temporary folder, or a scratch database on FORVARV_DATABASE_URL's
server). Each round runs, for each layout, a delivery of N new records (one holding each) loaded
quietly and then one loaded during a flood, alternating which layout goes first from round to
round (A/B, B/A, …). The flood is a separate process (this script with --flood) keeping
`--concurrency` requests in flight against the web (or serve) process: plain 404s, OAI-PMH
Identify and ListIdentifiers. A load's time is the delivery's `finished_at - started_at` in the
database; the slowdown is flooded / quiet. It prints every run, then the median slowdown of each
layout beside the issue's bound (1.5×). Check that the machine is otherwise idle (`uptime`).

    python bench/roles.py --pin [--records 3000] [--rounds 2]

`--pin` stands in, on one machine, for what the roles are for: the web processes and the loading
on cores (or machines) of their own. It needs two CPUs and Linux (sched_setaffinity). The flood
client is always on the first CPU. Roles apart: the web process, its children and its PostgreSQL
backends on the first CPU, beside the flood; the worker, its children and its backends on the
second. All in one: `serve`, its children and its backends on the second CPU (the same share of
the machine as the roles apart). PostgreSQL's own background processes are left unpinned. Backends
are told apart by the `application_name` each process sets through its database URL, and are
pinned as they appear (checked every 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchdb  # noqa: E402  (bench/, beside this script)

from gateway.demo import synthetic  # noqa: E402
from gateway.store import db, migrations  # noqa: E402

FORVARV = str(Path(sys.executable).with_name("forvarv"))
BOUND = 1.5


# --- the flood (a process of its own) ------------------------------------------------------------
async def flood(url: str, concurrency: int) -> None:
    paths = itertools.cycle([f"/no/such/path/{n}" for n in range(8)] + [
        "/oai?verb=Identify", "/oai?verb=ListIdentifiers&metadataPrefix=marc21"])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    done = 0
    started = time.perf_counter()

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while not stop.is_set():
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url + next(paths)) as resp:
                    await resp.read()
                    done += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        print("flooding", flush=True)
        tasks = [asyncio.create_task(one(session)) for _ in range(concurrency)]
        await stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(f"{done / (time.perf_counter() - started):.0f} requests/s", flush=True)


# --- the gateway's processes -----------------------------------------------------------------------
async def _start(argv: list[str], env: dict[str, str], ready: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise SystemExit(f"{argv} ended before it was ready")
        if line.startswith(ready):
            return proc


async def _stop(proc: asyncio.subprocess.Process) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = await proc.communicate()
    return out.decode().strip()


def _with_application_name(url: str, name: str) -> str:
    """The URL with `application_name` set (asyncpg passes unknown query parameters to the server)."""
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


class Pinning:
    """Keeps each gateway process, its children and its PostgreSQL backends on one CPU (see --pin)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.cpus = sorted(os.sched_getaffinity(0))[:2]
        if len(self.cpus) < 2:
            raise SystemExit("--pin needs two CPUs")
        self.roles: dict[str, tuple[int, int]] = {}  # application_name -> (pid of the process, CPU)
        self.task: asyncio.Task[None] | None = None
        self.backends: dict[str, set[int]] = {}  # application_name -> the backends pinned

    @property
    def flood_cpu(self) -> int:
        return self.cpus[0]

    def add(self, application_name: str, pid: int, cpu_index: int) -> None:
        self.roles[application_name] = (pid, self.cpus[cpu_index])
        self._pin_tree(pid, self.cpus[cpu_index])

    @staticmethod
    def _pin(pid: int, cpu: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.sched_setaffinity(pid, {cpu})

    def _pin_tree(self, pid: int, cpu: int) -> None:
        self._pin(pid, cpu)
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):
                self._pin(child.pid, cpu)

    async def _keep(self) -> None:
        async with self.pool.acquire() as conn:
            while True:
                rows = await conn.fetch("SELECT pid, application_name FROM pg_stat_activity "
                                        "WHERE application_name = ANY($1::text[])", list(self.roles))
                for row in rows:
                    self._pin(row["pid"], self.roles[row["application_name"]][1])
                    self.backends.setdefault(row["application_name"], set()).add(row["pid"])
                for pid, cpu in self.roles.values():
                    self._pin_tree(pid, cpu)
                await asyncio.sleep(0.05)

    def start(self) -> None:
        self.task = asyncio.create_task(self._keep())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        print("  pinned backends: " + ", ".join(f"{name} {len(pids)}" for name, pids in sorted(self.backends.items())),
              flush=True)
        self.roles.clear()
        self.backends.clear()


class Layout:
    def __init__(self, name: str, env: dict[str, str], pinning: Pinning | None = None) -> None:
        self.name = name
        self.env = env
        self.port = benchdb.free_port()
        self.procs: list[asyncio.subprocess.Process] = []
        self.pinning = pinning

    def _env(self, role: str) -> dict[str, str]:
        if self.pinning is None:
            return self.env
        return {**self.env, "FORVARV_DATABASE_URL": _with_application_name(self.env["FORVARV_DATABASE_URL"],
                                                                           f"bench-{role}")}

    def _pin(self, role: str, proc: asyncio.subprocess.Process, cpu_index: int) -> None:
        if self.pinning is not None:
            self.pinning.add(f"bench-{role}", proc.pid, cpu_index)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Layout:
        if self.name == "apart":
            web = await _start([FORVARV, "web", "--port", str(self.port)], self._env("web"), "Förvärv")
            self._pin("web", web, 0)
            worker = await _start([FORVARV, "worker", "--workers", "1"], self._env("worker"), "Förvärv")
            self._pin("worker", worker, 1)
            self.procs += [web, worker]
        else:
            serve = await _start([FORVARV, "serve", "--port", str(self.port), "--workers", "1"],
                                 self._env("serve"), "Förvärv")
            self._pin("serve", serve, 1)
            self.procs.append(serve)
        if self.pinning is not None:
            self.pinning.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.pinning is not None:
            await self.pinning.stop()
        for p in reversed(self.procs):
            await _stop(p)


async def _load(layout: Layout, pool: asyncpg.Pool, token: str, records: int, start: int,
                flood_with: int) -> tuple[float, str]:
    """Post a delivery of `records` new records and wait for it; the load's seconds (database)."""
    body = synthetic.delivery(records, benchdb.SIGELS, start=start, seed=start)
    flooder = None
    if flood_with:
        flooder = await _start([sys.executable, __file__, "--flood", layout.url, "--concurrency", str(flood_with)],
                               os.environ.copy(), "flooding")
        if layout.pinning is not None:
            os.sched_setaffinity(flooder.pid, {layout.pinning.flood_cpu})
        await asyncio.sleep(1.0)  # let it reach its pace
    async with aiohttp.ClientSession() as session, session.post(
            f"{layout.url}/deliveries", data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/marcxml+xml"}) as resp:
        delivery_id = int((await resp.json())["id"])
    async with pool.acquire() as conn:
        while True:  # polled: the load is seconds long, a poll every 50 ms costs nothing
            status = await conn.fetchval("SELECT status FROM deliveries WHERE id = $1", delivery_id)
            if status in ("done", "failed"):
                break
            await asyncio.sleep(0.05)
        seconds = float(await conn.fetchval(
            "SELECT extract(epoch FROM finished_at - started_at) FROM deliveries WHERE id = $1", delivery_id))
    rate = ""
    if flooder is not None:
        rate = await _stop(flooder)
        rate = rate.splitlines()[-1] if rate else ""
    return seconds, rate


async def run(url: str, records: int, rounds: int, concurrency: int, data_dir: Path, pin: bool) -> None:
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn)
        token = await benchdb.register_supplier(conn)
    finally:
        await conn.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORVARV_")}
    env.update(FORVARV_DATABASE_URL=url, FORVARV_DATA_DIR=str(data_dir), FORVARV_SECRET="bench-secret",
               FORVARV_LOG_FORMAT="text")
    pool = await db.create_pool(url, min_size=1, max_size=3)
    pinning = Pinning(pool) if pin else None
    if pinning is not None:
        print(f"pinned: the flood on CPU {pinning.cpus[0]}; web on CPU {pinning.cpus[0]}, worker on CPU "
              f"{pinning.cpus[1]}; serve on CPU {pinning.cpus[1]}", flush=True)
    slowdowns: dict[str, list[float]] = {"apart": [], "serve": []}
    start = 0
    try:
        for r in range(rounds):
            order = ("apart", "serve") if r % 2 == 0 else ("serve", "apart")
            for name in order:
                async with Layout(name, env, pinning) as layout:
                    quiet, _ = await _load(layout, pool, token, records, start, 0)
                    start += records
                    flooded, rate = await _load(layout, pool, token, records, start, concurrency)
                    start += records
                slowdowns[name].append(flooded / quiet)
                print(f"round {r + 1} {name:<5}  quiet {quiet:6.2f} s  flooded {flooded:6.2f} s ({rate})  "
                      f"slowdown {flooded / quiet:4.2f}x", flush=True)
    finally:
        await pool.close()
    print()
    for name, label in (("apart", "web + worker processes"), ("serve", "serve (all in one)   ")):
        print(f"{label}  median slowdown {statistics.median(slowdowns[name]):4.2f}x   "
              f"(runs: {', '.join(f'{s:.2f}' for s in slowdowns[name])})   bound {BOUND}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight in the flood")
    parser.add_argument("--pin", action="store_true",
                        help="web and loading on CPUs of their own (see above); Linux, two CPUs")
    parser.add_argument("--flood", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood:
        asyncio.run(flood(args.flood, args.concurrency))
        return
    import tempfile

    with benchdb.database("roles") as url, tempfile.TemporaryDirectory(prefix="forvarv-roles-") as tmp:
        os.chmod(tmp, 0o755)
        asyncio.run(run(url, args.records, args.rounds, args.concurrency, Path(tmp), args.pin))


if __name__ == "__main__":
    main()
