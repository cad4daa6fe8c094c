"""`forvarv deliver FILE… --supplier CODE`: deliveries from files, through the same path as HTTP.

Each file is received exactly like a POST (stored, checked, idempotent on its SHA-256) and then
loaded by a worker: the running gateway's if it gets there first, else this command's own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

from tqdm import tqdm

from gateway import config, registry
from gateway.config import Settings
from gateway.intake import receive as intake
from gateway.intake import report, workers
from gateway.intake.parse_process import ParseProcess
from gateway.store import db, migrations

CONTENT_TYPES = {".xml": "application/marcxml+xml", ".mrc": "application/marc", ".marc": "application/marc",
                 ".iso": "application/marc", ".iso2709": "application/marc"}


def content_type_for(path: Path, override: str | None) -> str:
    if override:
        return override
    name = path.name.lower().removesuffix(".gz")
    return CONTENT_TYPES.get(Path(name).suffix, "application/marcxml+xml")


async def _file_chunks(path: Path, bar: tqdm) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            bar.update(len(chunk))
            yield chunk
            await asyncio.sleep(0)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    url = db.resolve_url(settings)
    pool = await db.create_pool(url, min_size=2, max_size=6)
    try:
        async with pool.acquire() as conn:
            await migrations.migrate(conn)
            supplier = await registry.get_supplier(conn, args.supplier)
        ids: list[int] = []
        for name in args.files:
            path = Path(name)
            size = os.path.getsize(path)  # noqa: ASYNC240 - a stat before streaming the file
            with tqdm(total=size, unit="B", unit_scale=True, desc=path.name,
                      disable=args.quiet) as bar:
                received = await intake.receive(
                    pool, supplier, _file_chunks(path, bar),
                    content_type=content_type_for(path, args.content_type), charset=args.charset,
                    gzip=path.suffix.lower() == ".gz", max_body=settings.max_body, source=f"file:{path.name}",
                )
            state = "received" if received.created else f"already received ({received.status})"
            print(f"{path}: delivery {received.id} {state}")
            ids.append(received.id)
        if args.no_wait:
            return 0
        parse_process = ParseProcess() if settings.parse_process else None
        try:
            async with pool.acquire() as lease:
                while True:
                    async with pool.acquire() as conn:
                        pending = await conn.fetchval(
                            "SELECT count(*) FROM deliveries WHERE id = ANY($1) AND status NOT IN ('done', 'failed')",
                            ids)
                    if not pending:
                        break
                    if not await workers.process_one(pool, settings, lease, parse_process):
                        await asyncio.sleep(0.5)
        finally:
            if parse_process is not None:
                parse_process.shutdown()
        failed = 0
        async with pool.acquire() as conn:
            for delivery_id in ids:
                head = await report.delivery_header(conn, delivery_id, None)
                failed += head["status"] == "failed"
                print(f"delivery {delivery_id}: {head['status']} {json.dumps(head['summary'])}")
        return 1 if failed else 0
    finally:
        await pool.close()


def cmd_deliver(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run(args, config.ensure_secret(settings)))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("deliver", help="deliver MARCXML/ISO 2709 files for a supplier and load them")
    p.add_argument("files", nargs="+", metavar="FILE", help="MARCXML (.xml) or ISO 2709 (.mrc); .gz accepted")
    p.add_argument("--supplier", required=True, help="supplier code")
    p.add_argument("--content-type", help="override the type guessed from the file name")
    p.add_argument("--charset", help="ISO 2709 only: declared charset, e.g. iso-8859-1")
    p.add_argument("--no-wait", action="store_true", help="only store the deliveries; a running gateway loads them")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_deliver, standalone=True)
