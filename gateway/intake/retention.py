"""Retention of delivery history: `forvarv prune`.

A delivery's history is its payload as received (`delivery_chunks`) and its per-record results
(`delivery_records`). Both grow with every delivery (docs/scaling.md). `prune` removes, for
finished deliveries older than a number of days, the payload and/or the per-record results, and
keeps the delivery row and its summary, marked with what was removed and when
(`payload_pruned_at`, `results_pruned_at`; migration 0022): the report and the console say so.

What is never removed:
- anything of a delivery that is not finished, has an open review item (the "separate" action
  re-reads the incoming record from the payload; the item's page reads its result row), or a
  notification or webhook event still to be sent;
- the per-record rows a record's provenance reads (a bibliographic record that created, matched
  or updated a record: gateway/intake/provenance.py), so a record's history stays true.

Work is done in small transactions: one marks a delivery (so a reader is told at once, and a
stopped run is resumed: `pruning` stays set), then each batch of chunks or of positions is a
transaction of its own, then one clears `pruning`. A run finishes deliveries a stopped run left
marked before it looks for new ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from gateway.config import Settings
from gateway.intake import report
from gateway.store.queries import load

Q = load("retention")

CHUNKS_PER_BATCH = 8          # payload chunks are up to 1 MiB each
POSITIONS_PER_BATCH = 5000    # per-record rows: a few MB per transaction
_PAGE = 500                   # candidate deliveries fetched at a time


@dataclass
class Pruned:
    """What a run removed (or, in a dry run, would remove)."""

    deliveries: int = 0
    payloads: int = 0
    payload_bytes: int = 0
    results: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    lines: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return self.payload_bytes + self.result_bytes


def cutoff(days: int | None, now: datetime) -> datetime | None:
    """The finish time before which something `days` old is removed; None (keep) for 0 or None."""
    if not days or days <= 0:
        return None
    return now - timedelta(days=days)


async def _delete_payload(conn: asyncpg.Connection, delivery_id: int, batch: int) -> tuple[int, int]:
    chunks = size = 0
    while True:
        async with conn.transaction():
            row = await conn.fetchrow(Q["delete_chunks"], delivery_id, batch)
        if not row["n"]:
            return chunks, size
        chunks += int(row["n"])
        size += int(row["bytes"])


async def _delete_results(conn: asyncpg.Connection, delivery_id: int, batch: int,
                          strip: bool = True) -> tuple[int, int]:
    last = await conn.fetchval(Q["last_position"], delivery_id)
    rows = size = 0
    if last is None:
        return rows, size
    start = 0
    while start <= last:
        async with conn.transaction():
            row = await conn.fetchrow(Q["delete_results"], delivery_id, start, start + batch)
            if strip:
                kept = await conn.fetchrow(Q["strip_results"], delivery_id, start, start + batch)
                size += int(kept["bytes"])
        rows += int(row["n"])
        size += int(row["bytes"])
        start += batch
    return rows, size


async def _finish(conn: asyncpg.Connection, d: asyncpg.Record, out: Pruned, *, chunk_batch: int,
                  position_batch: int) -> None:
    """Remove what the (marked) delivery's marks say, then clear its `pruning`."""
    parts = []
    if d["payload"]:
        chunks, size = await _delete_payload(conn, d["id"], chunk_batch)
        out.payloads += 1
        out.payload_bytes += size
        parts.append(f"payload {chunks} chunks {size:,} B")
    if d["results"]:
        rows, size = await _delete_results(conn, d["id"], position_batch)
        out.results += 1
        out.result_rows += rows
        out.result_bytes += size
        parts.append(f"results {rows} rows {size:,} B")
    await conn.execute(Q["done"], d["id"])
    out.deliveries += 1
    out.lines.append(f"delivery {d['id']} ({d['supplier']}, finished {_day(d['finished_at'])}): "
                     f"removed {', '.join(parts)}")


async def _would(conn: asyncpg.Connection, d: asyncpg.Record, out: Pruned) -> None:
    parts = []
    if d["payload"]:
        row = await conn.fetchrow(Q["payload_size"], d["id"])
        out.payloads += 1
        out.payload_bytes += int(row["bytes"])
        parts.append(f"payload {row['n']} chunks {int(row['bytes']):,} B")
    if d["results"]:
        row = await conn.fetchrow(Q["results_size"], d["id"])
        out.results += 1
        out.result_rows += int(row["n"])
        out.result_bytes += int(row["bytes"])
        parts.append(f"results {row['n']} rows {int(row['bytes']):,} B")
    out.deliveries += 1
    out.lines.append(f"delivery {d['id']} ({d['supplier']}, finished {_day(d['finished_at'])}): "
                     f"would remove {', '.join(parts)}")


def _day(value: Any) -> str:
    return value.date().isoformat() if value is not None else "-"


async def prune(
    conn: asyncpg.Connection, *, payload_days: int | None, results_days: int | None, dry_run: bool = False,
    now: datetime | None = None, chunk_batch: int = CHUNKS_PER_BATCH, position_batch: int = POSITIONS_PER_BATCH,
    progress: Callable[[str], None] | None = None,
) -> Pruned:
    """Remove payloads finished more than `payload_days` ago and per-record results finished more
    than `results_days` ago (0 or None: keep), first finishing what a stopped run left marked.
    With `dry_run`, nothing changes and the result says what would go."""
    now = now or datetime.now(UTC)
    payload_before, results_before = cutoff(payload_days, now), cutoff(results_days, now)
    out = Pruned()

    def said(line: str) -> None:
        if progress is not None:
            progress(line)

    for d in await conn.fetch(Q["unfinished"]):
        if dry_run:
            await _would(conn, d, out)
        else:
            await _finish(conn, d, out, chunk_batch=chunk_batch, position_batch=position_batch)
        said(out.lines[-1] + " (left by a stopped run)")
    if payload_before is None and results_before is None:
        return out
    after = 0
    while page := await conn.fetch(Q["candidates"], payload_before, results_before, after, _PAGE):
        for d in page:
            after = d["id"]
            if dry_run:
                await _would(conn, d, out)
                said(out.lines[-1])
                continue
            summary = json.dumps(await report.summary(conn, d["id"])) if d["no_summary"] else None
            async with conn.transaction():
                marked = await conn.fetchval(Q["mark"], d["id"], d["payload"], d["results"], summary)
            if marked is None:  # changed since it was listed (e.g. another prune took it)
                continue
            await _finish(conn, d, out, chunk_batch=chunk_batch, position_batch=position_batch)
            said(out.lines[-1])
    return out


# --- the command --------------------------------------------------------------------------------
async def prune_command(args: argparse.Namespace, conn: asyncpg.Connection, settings: Settings) -> int:
    payload_days = args.payloads_older_than if args.payloads_older_than is not None else settings.retain_payload_days
    results_days = args.results_older_than if args.results_older_than is not None else settings.retain_results_days
    if payload_days < 0 or results_days < 0 or args.batch_positions < 1:
        print("error: days must be 0 (keep) or more, --batch-positions 1 or more", file=sys.stderr)
        return 2
    keep = "kept (0: no retention set)"
    print(f"payloads: {f'removed after {payload_days} days' if payload_days else keep}; "
          f"per-record results: {f'removed after {results_days} days' if results_days else keep}"
          f"{' (dry run: nothing is changed)' if args.dry_run else ''}")
    done = await prune(conn, payload_days=payload_days, results_days=results_days, dry_run=args.dry_run,
                       position_batch=args.batch_positions, progress=print)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb}: {done.payloads} payloads ({done.payload_bytes:,} B), per-record results of "
          f"{done.results} deliveries ({done.result_rows:,} rows, {done.result_bytes:,} B); "
          f"about {done.bytes / 1_000_000:,.1f} MB {'to free' if args.dry_run else 'freed'} "
          "(stored sizes; the disk space is reused after VACUUM)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    a = sub.add_parser("prune", help="remove old delivery payloads and per-record results (retention)")
    a.add_argument("--payloads-older-than", type=int, metavar="DAYS", default=None,
                   help="remove the payloads of deliveries finished more than DAYS ago "
                        "(default FORVARV_RETAIN_PAYLOAD_DAYS; 0: keep)")
    a.add_argument("--results-older-than", type=int, metavar="DAYS", default=None,
                   help="remove the per-record results of deliveries finished more than DAYS ago "
                        "(default FORVARV_RETAIN_RESULTS_DAYS; 0: keep)")
    a.add_argument("--dry-run", action="store_true", help="say what would be removed; change nothing")
    a.add_argument("--batch-positions", type=int, metavar="N", default=POSITIONS_PER_BATCH,
                   help=f"per-record positions removed per transaction (default {POSITIONS_PER_BATCH})")
    a.set_defaults(func=prune_command)
