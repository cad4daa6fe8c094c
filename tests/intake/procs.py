"""Entry points run as separate OS processes by the concurrency and crash tests.

    python -m tests.intake.procs load DB_URL DELIVERY_ID BATCH_SIZE   # load one delivery directly
    python -m tests.intake.procs worker DB_URL BATCH_SIZE              # a worker loop, until killed

The worker prepares records in a second process, as `forvarv serve` does for large deliveries, and
runs a search indexer beside its loop, as `forvarv serve` does.
"""

from __future__ import annotations

import asyncio
import sys

from gateway.config import Settings
from gateway.intake import loader, workers
from gateway.intake.parse_process import ParseProcess
from gateway.search.indexer import SearchIndexer
from gateway.store import db


async def _load(url: str, delivery_id: int, batch_size: int) -> None:
    pool = await db.create_pool(url, min_size=1, max_size=3)
    try:
        await loader.load_delivery(pool, delivery_id, org_code="FORVARV", batch_size=batch_size)
    finally:
        await pool.close()


async def _worker(url: str, batch_size: int) -> None:
    pool = await db.create_pool(url, min_size=1, max_size=4)
    print("worker ready", flush=True)
    stop = asyncio.Event()
    indexer = SearchIndexer(pool)  # as gateway.intake.workers.setup runs it beside the workers
    await asyncio.gather(workers.run(pool, Settings(batch_size=batch_size), stop, ParseProcess(), indexer),
                         indexer.run(stop))


def main(argv: list[str]) -> None:
    if argv[0] == "load":
        asyncio.run(_load(argv[1], int(argv[2]), int(argv[3])))
    elif argv[0] == "worker":
        asyncio.run(_worker(argv[1], int(argv[2])))
    else:
        raise SystemExit(f"unknown mode {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
