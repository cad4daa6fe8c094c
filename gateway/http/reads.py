"""Feature module: read replicas for OAI-PMH, SRU and console reads (gateway/store/replicas.py).

With `Settings.read_database_urls` the app carries a `Replicas` (app[REPLICAS]) whose checks run
in the background; without, nothing is added and every read uses the primary's pool.
`read_pool(app)` is what a read-only page acquires its connection from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from gateway.http.appkeys import POOL, SETTINGS
from gateway.ops import metrics
from gateway.store.replicas import Acquires, Replicas

log = logging.getLogger(__name__)

REPLICAS = web.AppKey("replicas", Replicas)


def read_pool(app: web.Application) -> Acquires:
    """Where read-only pages get connections: the replicas (then the primary) or the primary."""
    replicas = app.get(REPLICAS)
    return replicas if replicas is not None else app[POOL]


def replica_status(app: web.Application) -> dict[str, Any] | None:
    """For operators: each replica's state (up, usable, lag, reads), or None without replicas."""
    replicas = app.get(REPLICAS)
    return None if replicas is None else replicas.status()


async def _replicas(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.read_database_urls:
        yield
        return
    replicas = Replicas(app[POOL], settings.read_database_urls, settings.read_max_lag)
    await replicas.open()
    try:  # a first look before requests come (until then reads use the primary)
        await replicas.check()
    except Exception:  # the primary or a replica answered badly: the checks retry every second
        log.warning("first read replica check failed", exc_info=True)
    app[REPLICAS] = replicas
    metrics.watch_replicas(replicas.status)  # /metrics: up, usable, lag, reads per replica
    checks = asyncio.create_task(replicas.run(), name="read-replica-checks")
    try:
        yield
    finally:
        metrics.watch_replicas(None)
        checks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checks
        await replicas.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_replicas)  # after the app's database context: the primary's pool exists
