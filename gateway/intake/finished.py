"""Waking the requests that wait for a delivery to finish (`POST /deliveries?wait=`).

The transaction that marks a delivery done or failed also sends `NOTIFY forvarv_finished` with
its id (delivered when it commits, by whichever gateway process loaded it). Each gateway process
LISTENs on one connection of its own and wakes the requests waiting for that id. A request still
looks at the delivery's status every few seconds, so a notification lost with a broken
connection only costs it that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import asyncpg

from gateway.store import db
from gateway.store.queries import load

Q = load("finished")

log = logging.getLogger(__name__)

CHANNEL = "forvarv_finished"


async def notify(conn: asyncpg.Connection, delivery_id: int) -> None:
    """Say, in the caller's transaction, that this delivery is finished."""
    await conn.execute(Q["notify"], CHANNEL, str(delivery_id))


class Watch:
    def __init__(self) -> None:
        self._waiters: dict[int, set[asyncio.Event]] = {}
        self._conn: asyncpg.Connection | None = None

    async def start(self, url: str) -> None:
        self._conn = await db.connect(url)
        await self._conn.add_listener(CHANNEL, self._notified)

    async def stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            delivery_id = int(payload)
        except ValueError:
            log.warning("ignored a malformed %s notification: %r", CHANNEL, payload[:40])
            return
        for event in self._waiters.get(delivery_id, ()):
            event.set()

    @contextlib.contextmanager
    def watching(self, delivery_id: int) -> Iterator[asyncio.Event]:
        """An event set when the delivery's finish is notified, for as long as the block runs."""
        event = asyncio.Event()
        waiters = self._waiters.setdefault(delivery_id, set())
        waiters.add(event)
        try:
            yield event
        finally:
            waiters.discard(event)
            if not waiters:
                self._waiters.pop(delivery_id, None)
