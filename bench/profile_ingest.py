"""Where intake time goes: the CPU stages on their own, then receive and load against PostgreSQL.

    python bench/profile_ingest.py                       # 5,000 records: stages, receive, load
    python bench/profile_ingest.py --records 20000 --profile   # + cProfile of the load (top 30, CPU time)
    python bench/profile_ingest.py --no-search           # drop the SRU index triggers first
    python bench/profile_ingest.py --stages-only         # CPU stages only, no database
    python bench/profile_ingest.py --real                # real records (bench/real_delivery.py)

No HTTP here (bench/ingest.py measures end to end): the delivery is received with
gateway.intake.receive.receive and loaded with gateway.intake.loader.load_delivery in this process, so the
figures split the gateway's own work from the HTTP path. Uses a scratch database on
FORVARV_DATABASE_URL's server if set, else an embedded PostgreSQL in a temporary folder
(bench/benchdb.py).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchdb  # noqa: E402  (bench/, beside this script)
import procstat  # noqa: E402  (bench/, beside this script)
import real_delivery  # noqa: E402  (bench/, beside this script)

from gateway import registry, serve  # noqa: E402
from gateway.demo import synthetic  # noqa: E402
from gateway.intake import loader, report  # noqa: E402
from gateway.intake import receive as intake  # noqa: E402
from gateway.intake.parse_process import ParseProcess  # noqa: E402
from gateway.store import db, migrations  # noqa: E402
from protocols.marc import identifiers, summary, validate, writer  # noqa: E402
from protocols.marc.record import Record  # noqa: E402
from protocols.marc.xmlreader import MarcXmlParser  # noqa: E402
from protocols.marc.xmlscan import MarcXmlScanner  # noqa: E402

SIGELS = benchdb.SIGELS
CHUNK = 1024 * 1024


def _timed(label: str, n: int, fn: Callable[[], Any], repeat: int = 3) -> Any:
    """CPU time (process time: steadier than wall time on a shared machine), best of `repeat`."""
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    print(f"  {label:<34} {best * 1e3:8.1f} ms  {best / n * 1e6:7.1f} µs per record pair")
    return out


def stages(payload: bytes, n: int) -> None:
    """The CPU stages of intake and loading, one after the other, per bibliographic+holding pair."""
    pieces = [payload[i:i + CHUNK] for i in range(0, len(payload), CHUNK)]
    print(f"CPU stages ({n} pairs, CPU time, best of 3):")

    def scan() -> int:
        s = MarcXmlScanner()
        for p in pieces:
            s.feed(p)
        return s.close()

    _timed("scan (intake well-formedness)", n, scan)

    def parse() -> list[Record]:
        parser = MarcXmlParser()
        out: list[Record] = []
        for p in pieces:
            out.extend(r.record for r in parser.feed(p) if r.record is not None)
        out.extend(r.record for r in parser.close() if r.record is not None)
        return out

    records = _timed("parse (MarcXmlParser)", n, parse)
    bibs = [r for r in records if not r.is_holdings]
    holds = [r for r in records if r.is_holdings]
    checked = _timed("validate.check bib", n, lambda: [validate.check(r, kind="Bibliographic")[0] for r in bibs])
    _timed("validate.check holding", n, lambda: [validate.check(r, kind="Holdings") for r in holds])
    _timed("identifiers.extract", n, lambda: [identifiers.extract(r) for r in checked])
    _timed("identifiers.match_class", n, lambda: [identifiers.match_class(r) for r in checked])
    _timed("summary.describe", n, lambda: [summary.describe(r) for r in checked])
    _timed("writer.to_marcxml bib", n, lambda: [writer.to_marcxml(r) for r in checked])


async def seed(url: str, no_search: bool, no_fk: bool = False) -> None:
    conn = await db.connect(url)
    try:
        await migrations.migrate(conn)
        if no_fk:
            for r in await conn.fetch("SELECT conrelid::regclass::text AS t, conname FROM pg_constraint "
                                      "WHERE contype = 'f'"):
                await conn.execute(f'ALTER TABLE {r["t"]} DROP CONSTRAINT "{r["conname"]}"')
        if no_search:
            await benchdb.drop_search_triggers(conn)
        await benchdb.register_supplier(conn)
    finally:
        await conn.close()


async def _body(payload: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(payload), 262144):
        yield payload[i:i + 262144]


class StatementTimes:
    """Wall time spent awaiting each named loader query (patched onto asyncpg's Connection)."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        names = {sql: name for name, sql in loader.Q.items()}
        conn_cls = asyncpg.connection.Connection
        for method in ("execute", "fetch", "fetchval", "fetchrow", "copy_records_to_table"):
            original = getattr(conn_cls, method)
            setattr(conn_cls, method, self._wrap(original, method, names))

    def _wrap(self, original: Any, method: str, names: dict[str, str]) -> Any:
        times = self.times

        async def timed(conn: Any, *args: Any, **kwargs: Any) -> Any:
            name = names.get(args[0], method + ":" + str(args[0])[:40]) if args else method
            t0 = time.perf_counter()
            try:
                return await original(conn, *args, **kwargs)
            finally:
                times.setdefault(name, []).append(time.perf_counter() - t0)

        return timed

    def report(self, n: int) -> None:
        print("awaited per statement (wall, includes waiting for this process's CPU):")
        for name, ts in sorted(self.times.items(), key=lambda kv: -sum(kv[1])):
            print(f"  {name:<44} {len(ts):6d} calls {sum(ts) * 1e3:8.1f} ms  {sum(ts) / n * 1e6:7.1f} µs/pair")


#: A cheaper SRU index to compare with 0003_search (a proposal, see --search-cost): one weighted
#: tsvector (title A, creators B, subjects C, everything else D) behind one GIN index instead of
#: five vectors and five GIN indexes, the folded title/creator computed once, and btrees only
#: where a sort or range needs them (no btree on language or encoding level: low cardinality,
#: filtered on the row).
ALT_SEARCH = """
CREATE TABLE bib_search_alt (
    bib_id bigint PRIMARY KEY, modified_at timestamptz NOT NULL, encoding_level char(1) NOT NULL,
    year integer, language text, title_key text COLLATE "C", creator_key text COLLATE "C",
    words tsvector NOT NULL);
CREATE INDEX ON bib_search_alt USING gin (words);
CREATE INDEX ON bib_search_alt (title_key, bib_id);
CREATE INDEX ON bib_search_alt (creator_key, bib_id);
CREATE INDEX ON bib_search_alt (year, bib_id);
CREATE INDEX ON bib_search_alt (modified_at, bib_id);
CREATE FUNCTION search_refresh_alt(ids bigint[]) RETURNS void LANGUAGE sql BEGIN ATOMIC
    DELETE FROM bib_search_alt WHERE bib_id = ANY (ids);
    INSERT INTO bib_search_alt
    SELECT b.id, b.modified_at, b.encoding_level,
           substring(b.summary ->> 'year' FROM '[0-9]{4}')::integer,
           lower(nullif(btrim(b.summary ->> 'language'), '')),
           nullif(f.title, ''), nullif(search_fold(search_array(b.summary -> 'creators') ->> 0), ''),
           setweight(to_tsvector('simple', coalesce(f.title, '')), 'A')
           || setweight(to_tsvector('simple', coalesce(f.creators, '')), 'B')
           || setweight(to_tsvector('simple', coalesce(f.subjects, '')), 'C')
           || setweight(to_tsvector('simple', coalesce(search_fold(concat_ws(' ', b.summary ->> 'publisher',
                  b.summary ->> 'year', b.summary ->> 'edition', b.summary ->> 'extent',
                  b.summary ->> 'language', b.summary ->> 'type',
                  search_json_text(search_array(b.summary -> 'isbns')),
                  search_json_text(search_array(b.summary -> 'issns')),
                  search_json_text(search_array(b.summary -> 'eans')))), '')), 'D')
      FROM bib_records b,
           LATERAL (SELECT search_fold(b.summary ->> 'title') AS title,
                           search_fold(search_json_text(search_array(b.summary -> 'creators'))) AS creators,
                           search_fold(search_json_text(search_array(b.summary -> 'subjects'))) AS subjects) f
     WHERE b.id = ANY (ids) AND NOT b.deleted;
END;
"""


async def search_cost(url: str, batch: int) -> None:
    """PostgreSQL time of the SRU index per record: 0003's search_refresh and the proposal."""
    conn = await db.connect(url)
    try:
        ids = [r[0] for r in await conn.fetch("SELECT id FROM bib_records ORDER BY id")]
        await conn.execute(ALT_SEARCH)
        variants = [
            ("0003 search_refresh (bib_search + search_terms)", "SELECT search_refresh($1::bigint[])"),
            ("proposal: one weighted tsvector, 1 GIN + 4 btrees", "SELECT search_refresh_alt($1::bigint[])"),
        ]
        for label, sql in variants:
            for rnd in range(2):  # first round inserts, second replaces (as updates do)
                t0 = time.perf_counter()
                for i in range(0, len(ids), batch):
                    async with conn.transaction():
                        await conn.execute(sql, ids[i:i + batch])
                dt = time.perf_counter() - t0
                what = "insert" if rnd == 0 else "rewrite"
                print(f"  {label:<52} {what:<8} {dt / len(ids) * 1e6:7.0f} µs per record")
        rows = await conn.fetch(
            "SELECT relname, pg_total_relation_size(oid) AS size FROM pg_class "
            "WHERE relname IN ('bib_search', 'search_terms', 'bib_search_alt') ORDER BY relname")
        print("  sizes: " + ", ".join(f"{r['relname']} {r['size'] / 1e6:.0f} MB" for r in rows))
    finally:
        await conn.close()


def children_cpu() -> float:
    """CPU seconds used so far by this process's descendants other than PostgreSQL (the second
    process that prepares records)."""
    return sum(p.cpu for p in procstat.tree(os.getpid()) if p.pid != os.getpid())


def _rss() -> str:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return f"RSS {int(fields['VmRSS'].split()[0]) // 1024} MB, peak {int(fields['VmHWM'].split()[0]) // 1024} MB"


async def run_db(url: str, payload: bytes, n: int, batch_size: int, profile: bool,
                 statements: StatementTimes | None = None, report_too: bool = False,
                 parse_process: ParseProcess | None = None, redeliver: bool = False) -> None:
    pool = await db.create_pool(url, min_size=2, max_size=8)
    try:
        async with pool.acquire() as conn:
            supplier = await registry.get_supplier(conn, "BENCH")
            postmaster = await procstat.postmaster_of(conn)

        def postgres_cpu() -> float:  # this run's server only, not every postgres on the machine
            return procstat.server_cpu(postmaster)

        cpu0, pg0, ch0, t0 = time.process_time(), postgres_cpu(), children_cpu(), time.perf_counter()
        received = await intake.receive(pool, supplier, _body(payload), content_type="application/xml",
                                        max_body=10**10, parse_process=parse_process)
        t_recv = time.perf_counter() - t0
        cpu, pg, ch = time.process_time() - cpu0, postgres_cpu() - pg0, children_cpu() - ch0
        print(f"receive: {t_recv:.2f} s ({n / t_recv:,.0f} pairs/s); CPU per pair: this process "
              f"{cpu / n * 1e6:.0f} µs, the second process {ch / n * 1e6:.0f} µs (the scan), PostgreSQL "
              f"{pg / n * 1e6:.0f} µs; {_rss()}")
        prof = cProfile.Profile(time.process_time) if profile else None  # CPU, not wall
        cpu0 = time.process_time()
        pg0 = postgres_cpu()
        ch0 = children_cpu()
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        totals = await loader.load_delivery(pool, received.id, org_code="FORVARV", batch_size=batch_size,
                                            parse_process=parse_process)
        if prof:
            prof.disable()
        t_load = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        pg = postgres_cpu() - pg0
        ch = children_cpu() - ch0
        print(f"load: {t_load:.2f} s ({n / t_load:,.0f} pairs/s); created {totals['created']}, "
              f"holdings {totals['holdings_added']}; this process's CPU {cpu:.2f} s "
              f"({cpu / n * 1e6:.0f} µs per pair), the second process's {ch:.2f} s ({ch / n * 1e6:.0f} µs per pair), "
              f"PostgreSQL's {pg:.2f} s ({pg / n * 1e6:.0f} µs per pair); "
              f"{_rss()}")
        if redeliver:  # the same records again: every one matches and replaces (precedence 8 over 8)
            again = await intake.receive(pool, supplier, _body(payload), content_type="application/xml",
                                         max_body=10**10, idempotency_key="redelivery")
            cpu0, pg0, ch0, t0 = time.process_time(), postgres_cpu(), children_cpu(), time.perf_counter()
            totals = await loader.load_delivery(pool, again.id, org_code="FORVARV", batch_size=batch_size,
                                                parse_process=parse_process)
            t_load = time.perf_counter() - t0
            cpu, pg, ch = time.process_time() - cpu0, postgres_cpu() - pg0, children_cpu() - ch0
            print(f"redelivery: {t_load:.2f} s ({n / t_load:,.0f} pairs/s); updated {totals['updated']}, "
                  f"holdings updated {totals['holdings_updated']}; CPU per pair: this process "
                  f"{cpu / n * 1e6:.0f} µs, the second process {ch / n * 1e6:.0f} µs, PostgreSQL {pg / n * 1e6:.0f} µs")
        if report_too:  # streamed, as GET /deliveries/{id} and POST ?wait= answer it
            size = 0

            async def write(data: bytes) -> None:
                nonlocal size
                size += len(data)

            t0 = time.perf_counter()
            async with pool.acquire() as conn:
                await report.stream_json(conn, received.id, None, write)
            print(f"report (stream_json): {time.perf_counter() - t0:.2f} s, {size / 1e6:.1f} MB; {_rss()}")
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT relname, pg_total_relation_size(oid) AS size FROM pg_class "
                "WHERE relname IN ('bib_records', 'bib_identifiers', 'holdings', 'delivery_records', "
                "'bib_search', 'search_terms') ORDER BY relname")
        if statements is not None:
            statements.report(n)
        print("tables: " + ", ".join(f"{r['relname']} {r['size'] / 1e6:.0f} MB" for r in rows))
        if prof:
            prof.dump_stats("/tmp/profile_ingest.prof")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    finally:
        await pool.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--profile", action="store_true", help="cProfile the load")
    ap.add_argument("--no-search", action="store_true", help="drop the SRU index triggers (0003) first")
    ap.add_argument("--redeliver", action="store_true",
                    help="then deliver the same records again and load them (all matched and replaced)")
    ap.add_argument("--parse-process", action="store_true",
                    help="prepare records in a second process, as `forvarv serve` does for large deliveries")
    ap.add_argument("--no-fk", action="store_true", help="drop every foreign key first (experiment)")
    ap.add_argument("--real", action="store_true",
                    help="real records (LoC and Libris, bench/real_delivery.py) instead of synthetic ones")
    ap.add_argument("--stages-only", action="store_true")
    ap.add_argument("--no-stages", action="store_true")
    ap.add_argument("--statements", action="store_true", help="time every awaited loader statement")
    ap.add_argument("--gc-freeze", action="store_true", help="gc.freeze() before loading (experiment)")
    ap.add_argument("--search-cost", action="store_true",
                    help="load without the SRU triggers, then time 0003's index refresh and a cheaper one")
    ap.add_argument("--report", action="store_true",
                    help="also stream the delivery report (as GET /deliveries/{id} does)")
    ap.add_argument("--gc-off", action="store_true", help="no cyclic garbage collection at all (experiment)")
    ap.add_argument("--gc-serve", action="store_true",
                    help="the collector settings of `forvarv serve` (gateway.serve.tune_gc) before loading")
    args = ap.parse_args()

    if args.real:
        payload = real_delivery.delivery(args.records, SIGELS)
    else:
        payload = synthetic.delivery(args.records, SIGELS, seed=7)
    print(f"payload {len(payload) / 1e6:.0f} MB; {_rss()}")
    if not args.no_stages:
        stages(payload, args.records)
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    if args.gc_off:
        gc.disable()
    if args.gc_serve:
        serve.tune_gc()
    if args.stages_only:
        return
    with benchdb.database("profile_ingest") as url:
        asyncio.run(run(url, payload, args))


async def run(url: str, payload: bytes, args: argparse.Namespace) -> None:
    await seed(url, args.no_search or args.search_cost, args.no_fk)
    stats = StatementTimes() if args.statements else None
    process = ParseProcess() if args.parse_process else None
    if process is not None:
        await process.start()  # as `forvarv serve` does when it starts
    try:
        await run_db(url, payload, args.records, args.batch_size, args.profile, stats, args.report, process,
                     args.redeliver)
    finally:
        if process is not None:
            process.shutdown()
    if args.search_cost:
        print(f"SRU index cost in PostgreSQL ({args.records} records, batches of {args.batch_size}):")
        await search_cost(url, args.batch_size)


if __name__ == "__main__":
    main()
