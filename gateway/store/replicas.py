"""Read replicas: a pool per streaming replica, its replay lag, and where each read goes.

`Replicas` keeps one asyncpg pool per configured replica and checks them about once a second
(`run`): it samples the primary's flushed WAL position, writes the OAI horizon mark on the
primary (migration 0019), then asks every replica where its replay stands. A replica is *usable*
when it answers, is a standby, has replayed a horizon mark, and lags at most `max_lag` seconds.
`targets()` gives the usable replicas (in turn, so reads spread) followed by the primary, which
is always last: with no replica left, reads go to the primary.

Lag, in seconds, is an upper bound of how stale the replica's data is:

* by WAL position: the replica has replayed at least what the primary had flushed at the latest
  sample whose position it has reached, so it is no staler than that sample's age. An idle
  primary writes nothing, its position stops, and a replica that has replayed it is current
  (lag ≈ 0) although its last replayed commit may be hours old;
* by time: the age of its last replayed commit (`pg_last_xact_replay_timestamp`), for a
  replica behind every sample still kept.

The smaller of the two is the lag. Reads use the replica's pools; a replica that fails while
connecting is marked down at once (`mark_down`) and the next check may bring it back. A read pool
whose every connection is in use is busy, not down: the read goes elsewhere and the replica stays
in use. The checks have a connection of their own, so busy reads never hold them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import asyncpg

from gateway.store import db, queries

log = logging.getLogger(__name__)

SQL = queries.load("replicas")
#: Seconds between checks (and between horizon marks written on the primary).
CHECK_INTERVAL = 1.0
#: Seconds a check of one server may take before it counts as down.
CHECK_TIMEOUT = 2.0
#: Seconds a read may wait to connect to a replica before it goes elsewhere.
CONNECT_TIMEOUT = 2.0
#: What a server that is down, unreachable or gone away raises.
DOWN_ERRORS: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError,
)


def describe(url: str) -> str:
    """host:port/database of a URL, never its user or password (socket paths as given; a
    multi-host URL's hosts as written)."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # postgresql://a:5432,b:5433/db: no single port
        host, port = parts.netloc.rpartition("@")[2], None
    if not host:
        for param in parts.query.split("&"):
            key, _, value = param.partition("=")
            if key == "host":
                host = value
    where = host or "localhost"
    if port is not None or "," not in where:
        where = f"{where}:{port or 5432}"
    return f"{where}{parts.path or ''}"


def parse_lsn(text: str | None) -> int | None:
    """A pg_lsn's text ('16/B374D848') as a number."""
    if not text:
        return None
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(slots=True)
class ReplicaState:
    """What the last check (or a failed read) found; `usable` decides whether reads go there."""

    up: bool = False
    usable: bool = False
    reason: str = "not checked yet"
    lag: float | None = None  # seconds, an upper bound; None: unknown
    paused: bool = False  # replay paused (pg_wal_replay_pause)
    horizon: datetime | None = None  # the OAI horizon mark it has replayed
    replay_lsn: int | None = None
    checked_at: float | None = None  # time.monotonic() of the last check
    reads: int = 0  # reads sent here by targets()


@dataclass(slots=True)
class Replica:
    url: str
    name: str
    pool: asyncpg.Pool | None = None
    checks: asyncpg.Pool | None = None  # the checks' one connection, beside the reads' pool
    state: ReplicaState = field(default_factory=ReplicaState)


PoolFactory = Callable[[str], Awaitable[asyncpg.Pool]]


class Acquires(Protocol):
    """What reads need of a pool: a connection for a while (asyncpg.Pool, Replicas, ReadPools)."""

    def acquire(self) -> AbstractAsyncContextManager[asyncpg.Connection]: ...


class ReadPools:
    """Pools of one kind (e.g. read-only search sessions): one per replica and the primary's,
    acquired through `Replicas.acquire` (a usable replica in turn, else the primary)."""

    def __init__(self, replicas: Replicas, primary: asyncpg.Pool, pools: dict[str, asyncpg.Pool]) -> None:
        self.replicas = replicas
        self.primary = primary
        self.pools = pools

    def acquire(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        return self.replicas.acquire(lambda target: self.primary if target is None else self.pools[target.url])

    async def close(self) -> None:
        for pool in self.pools.values():
            await pool.close()


async def _read_pool(url: str) -> asyncpg.Pool:
    """A replica's pool: opens no connection until a read needs one, so a replica that is down
    at start costs nothing but its checks."""
    return await db.create_pool(url, min_size=0, max_size=10, timeout=CONNECT_TIMEOUT)


async def _check_pool(url: str) -> asyncpg.Pool:
    """The checks' connection to a replica (opened at the first check, opened again after a failure)."""
    return await db.create_pool(url, min_size=0, max_size=1, timeout=CHECK_TIMEOUT)


def _busy(pool: asyncpg.Pool, exc: BaseException) -> bool:
    """A wait for a connection ran out because every connection the pool may open is open and in
    use: the server is busy, not down."""
    return isinstance(exc, TimeoutError) and pool.get_size() >= pool.get_max_size() and pool.get_idle_size() == 0


class Replicas:
    def __init__(
        self,
        primary: asyncpg.Pool,
        urls: Sequence[str],
        max_lag: float,
        *,
        interval: float = CHECK_INTERVAL,
    ) -> None:
        self.primary = primary
        self.replicas = [Replica(url, describe(url)) for url in urls]
        self.max_lag = max_lag
        self.interval = interval
        self.fallbacks = 0  # reads that went to the primary although replicas are configured
        self._turn = itertools.count()
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, primary flush LSN)

    async def open(self, factory: PoolFactory = _read_pool) -> None:
        for replica in self.replicas:
            replica.pool = await factory(replica.url)
            replica.checks = await _check_pool(replica.url)

    async def pools(self, primary: asyncpg.Pool, factory: PoolFactory) -> ReadPools:
        """Pools of another kind, made by `factory` for each replica (it should not connect yet:
        a replica may be down), with the primary's of that kind."""
        return ReadPools(self, primary, {r.url: await factory(r.url) for r in self.replicas})

    async def close(self) -> None:
        for replica in self.replicas:
            for pool in (replica.pool, replica.checks):
                if pool is not None:
                    await pool.close()

    # --- where reads go -----------------------------------------------------------------------
    def usable(self) -> list[Replica]:
        return [r for r in self.replicas if r.state.usable and r.pool is not None]

    def targets(self) -> list[Replica | None]:
        """The usable replicas, starting with the next in turn, then None (the primary)."""
        found = self.usable()
        if found:
            start = next(self._turn) % len(found)
            found = found[start:] + found[:start]
        return [*found, None]

    def served(self, replica: Replica | None) -> None:
        """Count a read that went to `replica` (None: to the primary, a fallback when replicas are configured)."""
        if replica is not None:
            replica.state.reads += 1
        elif self.replicas:
            self.fallbacks += 1

    def mark_down(self, replica: Replica, exc: BaseException) -> None:
        state = replica.state
        if state.usable:
            log.warning("read replica %s left out: %s", replica.name, _reason(exc))
        state.up = state.usable = False
        state.reason = _reason(exc)

    @contextlib.asynccontextmanager
    async def acquire(self, pools: Callable[[Replica | None], asyncpg.Pool] | None = None,
                      ) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the first target that gives one (`pools` maps a target to the pool of
        the kind wanted; default: the replicas' read pools and the primary's pool)."""
        for target in self.targets():
            pool = self.primary if target is None else target.pool
            if pools is not None:
                pool = pools(target)
            assert pool is not None
            try:
                conn = await pool.acquire(timeout=CONNECT_TIMEOUT if target is not None else None)
            except DOWN_ERRORS as exc:
                if target is None:
                    raise
                if not _busy(pool, exc):
                    self.mark_down(target, exc)
                continue
            self.served(target)
            try:
                yield conn
            finally:
                await pool.release(conn)
            return

    # --- checks -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Check every `interval` seconds until cancelled."""
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed check must not end the checks; the next one retries
                log.warning("read replica check failed", exc_info=True)
            await asyncio.sleep(self.interval)

    async def check(self) -> None:
        """Sample the primary, write the horizon mark, then check each replica."""
        async with self.primary.acquire() as conn:
            lsn = parse_lsn(await conn.fetchval(SQL["primary_position"], timeout=CHECK_TIMEOUT))
            await conn.execute(SQL["write_mark"], self.interval / 2, timeout=CHECK_TIMEOUT)
        now = time.monotonic()
        if lsn is not None:
            self._samples.append((now, lsn))
        keep = max(60.0, 2 * self.max_lag)
        while self._samples and now - self._samples[0][0] > keep:
            self._samples.popleft()
        await asyncio.gather(*(self._check(r) for r in self.replicas))

    async def _check(self, replica: Replica) -> None:
        state = replica.state
        if replica.checks is None:
            return
        try:
            async with replica.checks.acquire(timeout=CHECK_TIMEOUT) as conn:
                row = await conn.fetchrow(SQL["replica_position"], timeout=CHECK_TIMEOUT)
        except (*DOWN_ERRORS, asyncpg.PostgresError) as exc:
            self.mark_down(replica, exc)
            state.checked_at = time.monotonic()
            return
        now = time.monotonic()
        state.up, state.checked_at = True, now
        state.paused, state.horizon = bool(row["paused"]), row["horizon"]
        state.replay_lsn = parse_lsn(row["replay_lsn"])
        state.lag = self.lag(now, state.replay_lsn, row["replay_age"])
        was = state.usable
        if not row["recovery"]:
            state.usable, state.reason = False, "not a standby (not in recovery)"
        elif state.horizon is None:
            state.usable, state.reason = False, "has not replayed a horizon mark yet"
        elif state.lag is None or state.lag > self.max_lag:
            lag = "unknown" if state.lag is None else f"{state.lag:.1f} s"
            state.usable, state.reason = False, f"lag {lag} exceeds {self.max_lag:g} s"
        else:
            state.usable, state.reason = True, "ok"
        if was != state.usable:
            log.warning("read replica %s %s", replica.name, "in use" if state.usable else f"left out: {state.reason}")

    def lag(self, now: float, replay_lsn: int | None, replay_age: float | None) -> float | None:
        """The smaller of the two upper bounds (see the module docstring); None if neither."""
        bounds = []
        if replay_lsn is not None:
            reached = [at for at, lsn in self._samples if lsn <= replay_lsn]
            if reached:
                bounds.append(now - max(reached))
        if replay_age is not None:
            bounds.append(max(0.0, replay_age))
        return min(bounds) if bounds else None

    # --- for operators ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Each replica's state and the reads that fell back to the primary (JSON-ready)."""
        now = time.monotonic()
        return {
            "max_lag": self.max_lag,
            "fallbacks": self.fallbacks,
            "replicas": [
                {
                    "name": r.name,
                    "up": r.state.up,
                    "usable": r.state.usable,
                    "reason": r.state.reason,
                    "lag_seconds": None if r.state.lag is None else round(r.state.lag, 3),
                    "replay_paused": r.state.paused,
                    "horizon": None if r.state.horizon is None else r.state.horizon.isoformat(),
                    "checked_seconds_ago": None if r.state.checked_at is None else round(now - r.state.checked_at, 3),
                    "reads": r.state.reads,
                }
                for r in self.replicas
            ],
        }


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
