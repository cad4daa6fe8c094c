"""`forvarv deliver FILE… --supplier CODE`: deliveries from files, through the same path as HTTP.

Each file is received exactly like a POST (stored, checked, idempotent on its SHA-256) and then
loaded by a worker: the running gateway's if it gets there first, else this command's own. What a
file holds (MARCXML, ISO 2709, either gzipped) is read from its first bytes, not its name. Every
line names its file; a file that is refused does not stop the others.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from tqdm import tqdm

from gateway import config, registry
from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.intake import receive as intake
from gateway.intake import report, sniff, workers
from gateway.intake.parse_process import ParseProcess
from gateway.ops import loop
from gateway.registry import Supplier
from gateway.store import db, migrations
from gateway.store.queries import load

Q = load("deliver")

#: Summary counts in the order a person reads them.
COUNTS = ("records", "created", "matched", "updated", "rejected")


class FileProblem(GatewayError):
    """A file that cannot be delivered as it is (missing, unreadable, not MARC)."""


def detect(path: Path, override: str | None) -> tuple[str, bool]:
    """(content type, gzip) of a file, from its first bytes; `override` sets the type."""
    try:
        with path.open("rb") as f:
            head = f.read(sniff.HEAD_SIZE)
    except FileNotFoundError:
        raise FileProblem("no such file") from None
    except IsADirectoryError:
        raise FileProblem("is a directory, not a file") from None
    except OSError as exc:
        raise FileProblem(f"cannot be read ({exc.strerror or exc})") from None
    gzipped = sniff.is_gzip(head)
    inner = sniff.gunzip_head(head) if gzipped else head
    if override:
        return override, gzipped
    found = sniff.content_type(inner)
    if found is None:
        what = "gzip holding neither MARCXML nor ISO 2709" if gzipped else "neither MARCXML nor ISO 2709"
        raise FileProblem(f"{what} (empty, or not MARC?); --content-type sets the type")
    return found, gzipped


def summary_line(head: dict[str, object]) -> str:
    counts = head.get("summary") or {}
    assert isinstance(counts, dict)
    parts = [f"{counts[k]} {k}" for k in COUNTS if k in counts]
    parts += [f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if k not in COUNTS and v]
    text = ", ".join(parts) or "nothing loaded"
    error = head.get("error")
    return f"{text}; {error}" if error else text


async def _file_chunks(path: Path, bar: tqdm) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            bar.update(len(chunk))
            yield chunk
            await asyncio.sleep(0)


async def _receive(pool: asyncpg.Pool, supplier: Supplier, path: Path, args: argparse.Namespace,
                   settings: Settings) -> int:
    content_type, gzipped = detect(path, args.content_type)
    size = os.path.getsize(path)  # noqa: ASYNC240 - a stat before streaming the file
    with tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=args.quiet) as bar:
        received = await intake.receive(
            pool, supplier, _file_chunks(path, bar), content_type=content_type, charset=args.charset,
            gzip=gzipped, max_body=settings.max_body, source=f"file:{path.name}",
        )
    state = "received" if received.created else f"already received ({received.status})"
    kind = "ISO 2709" if content_type == sniff.ISO2709 else "MARCXML" if content_type == sniff.MARCXML else content_type
    print(f"{path}: delivery {received.id} {state} ({kind}{', gzip' if gzipped else ''})", flush=True)
    return received.id


async def _load(pool: asyncpg.Pool, settings: Settings, ids: list[int]) -> None:
    parse_process = ParseProcess() if settings.parse_process else None
    try:
        async with pool.acquire() as lease:
            while True:
                async with pool.acquire() as conn:
                    pending = await conn.fetchval(
                        Q["unfinished_count"],
                        ids)
                if not pending:
                    break
                if not await workers.process_one(pool, settings, lease, parse_process):
                    await asyncio.sleep(0.5)
    finally:
        if parse_process is not None:
            parse_process.shutdown()


async def run(args: argparse.Namespace, settings: Settings) -> int:
    paths = [Path(name) for name in args.files]
    problems = 0
    for path in paths:  # missing or unreadable files are told before anything is stored
        try:
            detect(path, args.content_type)
        except FileProblem as exc:
            print(f"error: {path}: {exc.message}", file=sys.stderr)
            problems += 1
    if problems:
        return 1
    url = db.resolve_url(settings)
    pool = await db.create_pool(url, min_size=2, max_size=6)
    try:
        async with pool.acquire() as conn:
            await migrations.migrate(conn)
            supplier = await registry.get_supplier(conn, args.supplier)
        delivered: list[tuple[Path, int]] = []
        for path in paths:
            try:
                delivered.append((path, await _receive(pool, supplier, path, args, settings)))
            except GatewayError as exc:
                print(f"error: {path}: {exc.message}", file=sys.stderr)
                problems += 1
        if args.no_wait or not delivered:
            return 1 if problems else 0
        await _load(pool, settings, [i for _, i in delivered])
        async with pool.acquire() as conn:
            for path, delivery_id in delivered:
                head = await report.delivery_header(conn, delivery_id, None)
                problems += head["status"] == "failed"
                print(f"{path}: delivery {delivery_id} {head['status']}: {summary_line(head)}")
        return 1 if problems else 0
    finally:
        await pool.close()


def cmd_deliver(args: argparse.Namespace, settings: Settings) -> int:
    return loop.run(run(args, config.ensure_secret(settings)), settings.event_loop)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("deliver", help="deliver MARCXML/ISO 2709 files for a supplier and load them")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="MARCXML or ISO 2709, plain or gzipped (told from the content, not the name)")
    p.add_argument("--supplier", required=True, help="supplier code")
    p.add_argument("--content-type", help="set the type instead of reading it from the file's content")
    p.add_argument("--charset", help="ISO 2709 only: declared charset, e.g. iso-8859-1")
    p.add_argument("--no-wait", action="store_true", help="only store the deliveries; a running gateway loads them")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_deliver, standalone=True)
