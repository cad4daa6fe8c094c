"""Process heartbeats: which gateway processes are alive, on which machine, doing what.

Every long-running process (`forvarv serve`, `web`, `worker`, `mailer`, and `watch`:
gateway/sftp/watch.py) adds a row to `processes` when it starts, beats it every `interval`
seconds and removes it when it stops. A beat also carries the process's own metrics
(gateway/ops/metrics.py), so any web process can show the whole fleet's. A row not beaten for
`BEATS_TO_EXPIRE` intervals belongs to a process that died or hangs: readers ignore it, and the
next beat of any process deletes it. If this process's own row was deleted that way (its event
loop was blocked for that long), the next beat adds it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from importlib import metadata
from typing import Any

import asyncpg
from aiohttp import web

from gateway.store.queries import load

log = logging.getLogger(__name__)
Q = load("heartbeat")

#: A process counts as gone after this many missed beats.
BEATS_TO_EXPIRE = 6
#: What a process does, by role; `duties` in the table.
ROLE_DUTIES: dict[str, tuple[str, ...]] = {
    "serve": ("http", "load", "send"),
    "web": ("http",),
    "worker": ("load",),
    "mailer": ("send",),
}


def version() -> str:
    try:
        return metadata.version("forvarv-gateway")
    except metadata.PackageNotFoundError:
        return "unknown"


class Heartbeat:
    """This process's row in `processes`, kept fresh by a background task."""

    def __init__(self, pool: asyncpg.Pool, role: str, duties: tuple[str, ...], *, interval: float,
                 listen: str | None = None, snapshot: Callable[[], str | None] | None = None) -> None:
        self.pool = pool
        self.role = role
        self.duties = duties
        self.interval = interval
        self.listen = listen
        self.snapshot = snapshot
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id: int | None = None
        self.stopping = False
        self._task: asyncio.Task[None] | None = None
        # one beat at a time (the periodic one, a /metrics scrape's, the stopping one): two that
        # both found the row expired would each register the process again
        self._beating = asyncio.Lock()

    @property
    def ttl(self) -> float:
        return self.interval * BEATS_TO_EXPIRE

    async def start(self) -> None:
        async with self.pool.acquire() as conn:
            await self._register(conn)
        self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def _register(self, conn: asyncpg.Connection) -> None:
        self.id = int(await conn.fetchval(Q["register"], self.role, list(self.duties), self.host, self.pid,
                                          self.listen, version(), self.ttl))
        log.debug("process %s:%d (%s) registered as %d", self.host, self.pid, self.role, self.id)

    async def beat(self) -> None:
        """Write this beat (and the metrics snapshot); forget processes that stopped beating."""
        metrics = self.snapshot() if self.snapshot is not None else None
        async with self._beating, self.pool.acquire() as conn:
            found = await conn.fetchval(Q["beat"], self.id, self.ttl, self.stopping, metrics)
            if found is None:
                log.warning("this process's heartbeat had expired (was it stalled?); registering again")
                await self._register(conn)
                await conn.fetchval(Q["beat"], self.id, self.ttl, self.stopping, metrics)
            await conn.execute(Q["expire"])

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("heartbeat not written (%s); trying again in %.0f s", exc, self.interval)

    async def mark_stopping(self) -> None:
        """Shutdown began: say so at once (the console and /ready show it)."""
        self.stopping = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.beat(), self.interval)

    async def stop(self) -> None:
        """Stop beating and remove the row (a process that is killed leaves it to expire)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.id is not None:
            with contextlib.suppress(Exception):
                async with self.pool.acquire(timeout=self.interval) as conn:
                    await conn.execute(Q["leave"], self.id)


async def alive(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """The processes whose heartbeat is fresh, by role, host and pid."""
    return [dict(r) for r in await conn.fetch(Q["alive"])]


#: On the application of a process started by gateway/ops/runner.py: its role and its heartbeat.
ROLE = web.AppKey("role", str)
HEARTBEAT = web.AppKey("heartbeat", Heartbeat)
