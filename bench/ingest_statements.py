"""Where the PostgreSQL time of a load goes, statement by statement (issue 14).

    python bench/ingest_statements.py --records 10000 --top 30   # real records, gateway then fair
    python bench/ingest_statements.py --order fair,gateway

Starts an embedded PostgreSQL of its own with pg_stat_statements loaded (tracking statements run
by triggers and functions too) and log_statement_stats on (the CPU of every top-level statement,
getrusage, in a CSV log), runs one gateway load (`forvarv serve`, POST → done and the search
index queue empty) and one fair-ceiling load (bench/fair_ceiling.py) of the same real records
(bench/real_delivery.py), and prints for each: the server's CPU per pair (as bench/ingest.py
measures it) and by process kind; the CPU of each top-level statement per pair (its parse, bind
and execution; `runs` counts executions); then pg_stat_statements' execution time per pair (wall
time: it includes waiting for the CPU, so it runs ~1.5-2x the CPU when both cores are busy),
rows per pair and calls, top-level statements marked `*` (one run by a trigger or function is
also in the time of the statement that ran it; PostgreSQL names every foreign-key check by the
text of the first one it saw); and the average width of the per-record results.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import re
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchdb  # noqa: E402  (bench/, beside this script)
import fair_ceiling  # noqa: E402
import ingest  # noqa: E402
import procstat  # noqa: E402
import real_delivery  # noqa: E402

from gateway.demo import synthetic  # noqa: E402
from gateway.store import db, embedded  # noqa: E402

_STATS = """
SELECT toplevel, calls, rows, total_exec_time, regexp_replace(query, '\\s+', ' ', 'g') AS query
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
 ORDER BY total_exec_time DESC
"""


def _with_statements(data_dir: Path) -> str:  # data_dir: the server's folder
    """The embedded server in data_dir, restarted with pg_stat_statements loaded."""
    url = embedded.start(data_dir)

    async def configure() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            await conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'all'")
            await conn.execute("ALTER SYSTEM SET pg_stat_statements.max = 10000")
            # the CPU of each top-level statement (getrusage), in a CSV log of its own
            await conn.execute("ALTER SYSTEM SET logging_collector = on")
            await conn.execute("ALTER SYSTEM SET log_destination = 'csvlog'")
            await conn.execute("ALTER SYSTEM SET log_directory = 'pglog'")
            await conn.execute("ALTER SYSTEM SET log_filename = 'statements.log'")
            await conn.execute("ALTER SYSTEM SET log_min_error_statement = 'log'")
            await conn.execute("ALTER SYSTEM SET log_statement_stats = on")
        finally:
            await conn.close()

    asyncio.run(configure())
    embedded.stop(data_dir)
    return embedded.start(data_dir)


_WIDTHS = """
SELECT kind, count(*) AS n, avg(pg_column_size(r.*))::int AS row_bytes,
       avg(pg_column_size(identifiers))::int AS identifiers, avg(pg_column_size(candidates))::int AS candidates,
       avg(pg_column_size(errors))::int AS errors, avg(pg_column_size(warnings))::int AS warnings,
       avg(jsonb_array_length(warnings))::numeric(5, 2) AS warnings_each
  FROM delivery_records r WHERE delivery_id = (SELECT max(delivery_id) FROM delivery_records)
 GROUP BY kind ORDER BY kind
"""


async def _report(conn: asyncpg.Connection, label: str, n: int, top: int, cpu: float, wall: float,
                  kinds: dict[str, float], by_statement: dict[str, list[float]]) -> None:
    print(f"\n{label}: {n} pairs in {wall:.2f} s; server CPU {cpu / n * 1e6:.0f} µs per pair; by process: "
          + ", ".join(f"{k} {v / n * 1e6:.0f}" for k, v in sorted(kinds.items()) if v > 0))
    total = sum(v[0] for v in by_statement.values())
    print(f"CPU of top-level statements (log_statement_stats): {total / n * 1e6:.0f} µs per pair")
    print(f"{'µs/pair':>8} {'runs':>6}  statement")
    for q, (secs, count) in sorted(by_statement.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"{secs / n * 1e6:8.1f} {int(count):6d}  {q}")
    rows = [r for r in await conn.fetch(_STATS) if "pg_stat_statements" not in r["query"]]
    total = sum(r["total_exec_time"] for r in rows if r["toplevel"])
    print(f"execution time (pg_stat_statements, wall): {total * 1e3 / n:.0f} µs per pair in top-level statements")
    print(f"{'µs/pair':>8} {'rows/pair':>9} {'calls':>6}  statement")
    for r in rows[:top]:
        mark = "*" if r["toplevel"] else " "
        print(f"{r['total_exec_time'] * 1e3 / n:8.1f} {r['rows'] / n:9.2f} {r['calls']:6d} {mark}{r['query'][:150]}")
    for r in await conn.fetch(_WIDTHS):
        print(f"per-record results ({r['kind']}): {r['n']} rows, {r['row_bytes']} bytes each (identifiers "
              f"{r['identifiers']}, candidates {r['candidates']}, errors {r['errors']}, warnings {r['warnings']}: "
              f"{r['warnings_each']} each)")


def _by_kind(postmaster: int) -> dict[str, float]:
    """CPU seconds so far of the server's processes by kind (their title: client backend, autovacuum
    worker, walwriter …); ended ones under 'ended' (the postmaster's reaped children)."""
    out: dict[str, float] = {}
    fields = procstat._stat(postmaster)
    assert fields is not None
    out["postmaster"] = sum(int(f) for f in fields[11:13]) / procstat._TICK
    out["ended"] = sum(int(f) for f in fields[13:15]) / procstat._TICK
    for p in procstat.processes():
        if p.ppid != postmaster:
            continue
        try:
            title = Path(f"/proc/{p.pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        words = title.removeprefix("postgres: ").split()
        kind = "client backend" if (len(words) > 2 and "(" in words[2]) or "[local]" in title else " ".join(
            w for w in words if not w[:1].isdigit())[:30]
        out[kind] = out.get(kind, 0.0) + p.cpu
    return out


_USAGE = re.compile(r"([0-9.]+) s user, ([0-9.]+) s system")


def _statement_cpu(log: Path, start: int) -> tuple[dict[str, list[float]], int]:
    """From the CSV log after byte `start`: CPU seconds and count of each top-level statement (its
    parse, bind and execution added up); the log's end."""
    out: dict[str, list[float]] = {}
    with log.open(newline="") as f:
        f.seek(start)
        for row in csv.reader(f):
            if len(row) < 20 or "STATISTICS" not in row[13]:
                continue
            m = _USAGE.search(row[14])
            if m is None:
                continue
            query = " ".join(row[19].split())[:150] or row[13]
            entry = out.setdefault(query, [0.0, 0])
            entry[0] += float(m[1]) + float(m[2])
            entry[1] += "EXECUTE" in row[13] or row[13] == "QUERY STATISTICS"
        end = f.tell()
    return out, end


async def run(url: str, data_dir: Path, args: argparse.Namespace) -> None:
    token = await ingest.seed(url)
    conn = await db.connect(url)
    await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    server, base = ingest.start_gateway(ROOT, url, data_dir / "gateway", args.batch_size)
    try:
        await ingest.wait_up(base)
        postmaster = await procstat.postmaster_of(conn)
        supplier_id = await conn.fetchval("SELECT id FROM suppliers WHERE code = 'BENCH'")
        payload = real_delivery.delivery(args.records, benchdb.SIGELS)
        n = args.records
        await fair_ceiling.fair(conn, synthetic.delivery(1000, benchdb.SIGELS, seed=6, start=5_000_000), supplier_id)
        await ingest.post(base, token, iter([synthetic.delivery(1000, benchdb.SIGELS, seed=5, start=6_000_000)]))
        for kind in args.order.split(","):
            await ingest.reset(conn)
            await conn.execute("SELECT pg_stat_statements_reset()")
            log = data_dir / "db" / "pgdata" / "pglog" / "statements.csv"
            _, log_start = _statement_cpu(log, 0)
            kinds0 = _by_kind(postmaster)
            cpu0, t0 = procstat.server_cpu(postmaster), time.perf_counter()
            if kind == "gateway":
                await ingest.post(base, token, iter([payload[i:i + 262144] for i in range(0, len(payload), 262144)]),
                                  key=f"statements-{t0}")
                await ingest.searchable(conn)
            else:
                await fair_ceiling.fair(conn, payload, supplier_id)
            wall, cpu = time.perf_counter() - t0, procstat.server_cpu(postmaster) - cpu0
            kinds1 = _by_kind(postmaster)
            await asyncio.sleep(0.5)  # the log collector's last lines
            by_statement, _ = _statement_cpu(log, log_start)
            kinds = {k: kinds1[k] - kinds0.get(k, 0.0) for k in kinds1}
            await _report(conn, kind, n, args.top, cpu, wall, kinds, by_statement)
    finally:
        await conn.close()
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--order", default="gateway,fair", help="the loads, in order (gateway, fair)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="forvarv-statements-") as tmp:
        data_dir = Path(tmp)
        url = _with_statements(data_dir / "db")
        try:
            asyncio.run(run(url, data_dir, args))
        finally:
            embedded.stop(data_dir / "db")


if __name__ == "__main__":
    main()
