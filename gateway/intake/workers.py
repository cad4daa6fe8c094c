"""Delivery workers: take received deliveries off the PostgreSQL queue and load them.

A worker claims a delivery with `FOR UPDATE SKIP LOCKED` (so concurrent claimers never wait for
each other) and then holds a session-level advisory lock on it for as long as it loads it. The
lock, not a status flag, says "somebody is on it": if the process dies, its connection closes,
the lock is gone, and the next worker that looks resumes the delivery where its results end.
Workers wake on NOTIFY from the intake and also poll, so a lost notification costs a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from gateway.config import Settings
from gateway.http.appkeys import PARSE_PROCESS, POOL, SETTINGS, STOP
from gateway.intake import finished, loader
from gateway.intake.parse_process import ParseProcess
from gateway.intake.receive import NOTIFY_CHANNEL
from gateway.ops import metrics
from gateway.search.indexer import SearchIndexer
from gateway.store.queries import load

Q = load("workers")

log = logging.getLogger(__name__)

LOCK_CLASS = 0x46564456  # advisory lock namespace of deliveries being loaded
MAX_ATTEMPTS = 5
POLL_SECONDS = 1.0

CLAIM = Q["claim"]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def claim(conn: asyncpg.Connection) -> int | None:
    """Claim the oldest unclaimed delivery; the advisory lock stays with `conn` until released."""
    async with conn.transaction():
        delivery_id = await conn.fetchval(CLAIM, LOCK_CLASS)
        if delivery_id is None:
            return None
        got = await conn.fetchval(Q["try_lock"], LOCK_CLASS, delivery_id)
        if not got:
            return None
        await conn.execute(
            Q["mark_processing"],
            delivery_id,
        )
    return int(delivery_id)


async def release(conn: asyncpg.Connection, delivery_id: int) -> None:
    await conn.execute(Q["unlock"], LOCK_CLASS, delivery_id)


async def _on_finish(conn: asyncpg.Connection, delivery_id: int) -> None:
    """Runs inside the transaction that marks a delivery done (the outbox's channels hook in here:
    e-mail to library contacts, webhooks to library systems)."""
    from gateway.outbox import queue as outbox
    from gateway.outbox.webhook import queue as webhooks

    await outbox.enqueue_for_delivery(conn, delivery_id)
    await webhooks.enqueue_for_delivery(conn, delivery_id)


async def process_one(pool: asyncpg.Pool, settings: Settings, lease: asyncpg.Connection,
                      parse_process: ParseProcess | None = None, stop: asyncio.Event | None = None,
                      indexer: SearchIndexer | None = None) -> bool:
    """Claim and load one delivery; False when there was nothing to do.

    With `parse_process`, a large delivery's records are prepared in that second process. When
    `stop` is set meanwhile, the delivery is handed back after the batch being written. With
    `indexer`, the search index follows each batch's commit; without, the loader indexes what it
    queued before it returns (gateway.intake.loader).
    """
    delivery_id = await claim(lease)
    if delivery_id is None:
        return False
    try:
        attempts = await lease.fetchval(Q["attempts"], delivery_id)
        if attempts > MAX_ATTEMPTS:
            await lease.execute(
                Q["give_up"],
                delivery_id, f"gave up after {MAX_ATTEMPTS} attempts; see the gateway log",
            )
            await finished.notify(lease, delivery_id)
            log.error("delivery %s failed after %d attempts", delivery_id, MAX_ATTEMPTS)
            metrics.LOADS.labels("failed").inc()
            return True
        totals = await loader.load_delivery(
            pool, delivery_id, org_code=settings.org_code, batch_size=settings.batch_size,
            on_finish=_on_finish, parse_process=parse_process, stop=stop, indexer=indexer,
        )
        log.info("delivery %s done: %s", delivery_id, totals)
    except loader.HandedBack:
        # not a failed attempt: the next worker resumes after the last committed batch
        with contextlib.suppress(Exception):
            await lease.execute(Q["hand_back"], delivery_id)
        metrics.LOADS.labels("handed_back").inc()
        log.info("delivery %s handed back (this process is stopping); the next worker resumes it", delivery_id)
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
        raise
    except Exception as exc:
        log.exception("delivery %s: loading failed", delivery_id)
        metrics.LOADS.labels("error").inc()
        with contextlib.suppress(Exception):
            await lease.execute(Q["record_error"], delivery_id,
                                f"{type(exc).__name__}: {exc}")
    finally:
        with contextlib.suppress(Exception):
            await release(lease, delivery_id)
    return True


async def run(pool: asyncpg.Pool, settings: Settings, stop: asyncio.Event,
              parse_process: ParseProcess | None = None, indexer: SearchIndexer | None = None) -> None:
    """One worker loop; returns when `stop` is set."""
    wake = asyncio.Event()

    def notified(*_: object) -> None:
        wake.set()

    while not stop.is_set():
        try:
            lease: asyncpg.Connection = await pool.acquire()
            try:
                await lease.add_listener(NOTIFY_CHANNEL, notified)
                while not stop.is_set():
                    wake.clear()
                    if await process_one(pool, settings, lease, parse_process, stop, indexer):
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(_either(wake, stop), POLL_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await lease.remove_listener(NOTIFY_CHANNEL, notified)
                await pool.release(lease)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            log.warning("worker lost its database connection (%s); retrying", exc)
            await asyncio.sleep(POLL_SECONDS)


async def _either(a: asyncio.Event, b: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def setup(app: web.Application) -> None:
    async def workers(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        # set at SIGTERM by gateway/ops/runner.py (no new claims from then on), else at cleanup
        stop = app.get(STOP) or asyncio.Event()
        # one second process serves all of this process's workers
        parse_process = ParseProcess() if settings.parse_process else None
        if parse_process is not None:  # started on first use, or by `forvarv serve` (gateway.serve)
            app[PARSE_PROCESS] = parse_process
        # one search indexer serves all of this process's workers (gateway.search.indexer)
        indexer = SearchIndexer(app[POOL])
        tasks = [asyncio.create_task(run(app[POOL], settings, stop, parse_process, indexer))
                 for _ in range(settings.workers)]
        indexing = asyncio.create_task(indexer.run(stop)) if settings.workers > 0 else None
        yield
        stop.set()
        # a worker in the middle of a delivery commits the batch being written and hands the
        # delivery back; what is not done in time is cancelled (its batch rolls back: resumed too)
        if tasks:
            await asyncio.wait(tasks, timeout=settings.stop_timeout)
        if indexing is not None:
            tasks.append(indexing)  # its transaction in flight rolls back: the queue keeps the rows
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if parse_process is not None:
            await asyncio.get_running_loop().run_in_executor(None, parse_process.shutdown)

    app.cleanup_ctx.append(workers)
