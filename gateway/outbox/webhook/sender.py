"""The webhook sender: takes due events from the outbox and POSTs them, signed.

The same protocol as the e-mail sender (gateway/outbox/sender.py, whose SenderPolicy it uses):
one row claimed at a time with FOR UPDATE SKIP LOCKED, marked 'sending' with a lease longer than
the whole request may take and a claim token that every later update names, committed before
the request — so two processes never send one event at once, and a sender that died leaves a
lease that runs out and another sender takes the event again, under the same event id.

Outcome: 2xx → 'sent'. A timeout, a connection error, 5xx, 408 or 429 → 'pending' after an
exponential backoff, or 'failed' after max_attempts. Anything else (3xx: redirects are not
followed; 4xx; a refused address) → 'failed' at once. When an event fails, its webhook is
marked 'failing' (shown by `forvarv library webhook list` and the admin API) until a later
event succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import aiohttp
import asyncpg

from gateway.outbox.sender import SenderPolicy
from gateway.outbox.webhook import address
from gateway.outbox.webhook.queue import Links, render, signature
from gateway.store.queries import load

Q = load("webhook_sender")

log = logging.getLogger(__name__)

USER_AGENT = "forvarv-gateway-webhooks/1"
RETRY_STATUSES = frozenset({408, 429})

_CLAIM = Q["claim"]

_SENT = Q["sent"]

_RETRY = Q["retry"]

_FAILED = Q["failed"]


class Temporary(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Permanent(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class WebhookSender:
    def __init__(self, pool: asyncpg.Pool, links: Links, policy: SenderPolicy | None = None, *,
                 allow_private: bool = False, name: str = "webhook-sender") -> None:
        self.pool = pool
        self.links = links
        self.policy = policy or SenderPolicy(send_timeout=15.0)
        self.allow_private = allow_private
        self.name = name
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=address.GuardedResolver(self.allow_private),
                                             limit_per_host=4, force_close=True)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set; an event being sent is finished first."""
        try:
            while not stop.is_set():
                busy = False
                try:
                    busy = await self.send_one()
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                    log.warning("%s: outbox unavailable (%s); trying again shortly", self.name, exc)
                except Exception:
                    log.exception("%s: unexpected error; carrying on after a pause", self.name)
                if not busy:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self.policy.poll_interval)
        finally:
            await self.close()

    async def drain(self) -> int:
        """Send everything due now; how many were handled (tests)."""
        handled = 0
        while await self.send_one():
            handled += 1
        return handled

    async def send_one(self) -> bool:
        claim = uuid.uuid4()
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(_CLAIM, claim, self.policy.lease)
        if row is None:
            return False
        started = time.monotonic()
        if row["attempts"] > self.policy.max_attempts:
            await self._finish(_FAILED, row["id"], claim, started, "too many attempts whose outcome is unknown", None)
            return True
        try:
            status = await self._post(row)
        except Permanent as exc:
            log.warning("%s: event %s to %s failed: %s", self.name, row["event_id"], row["url"], exc)
            await self._finish(_FAILED, row["id"], claim, started, str(exc)[:1000], exc.status)
        except Temporary as exc:
            delay = self.policy.backoff(row["attempts"])
            log.info("%s: event %s to %s not delivered (%s); retry in %.0f s", self.name, row["event_id"],
                     row["url"], exc, delay)
            await self._finish(_RETRY, row["id"], claim, started, str(exc)[:1000], exc.status,
                               self.policy.max_attempts, delay)
        else:
            await self._finish(_SENT, row["id"], claim, started, status)
            log.info("%s: event %s delivered to %s (%d)", self.name, row["event_id"], row["url"], status)
        return True

    async def _post(self, row: Any) -> int:
        body = render(row, self.links)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Forvarv-Event": str(row["event_id"]),
            "X-Forvarv-Event-Type": row["type"],
            "X-Forvarv-Timestamp": timestamp,
            "X-Forvarv-Signature": signature(row["secret"], timestamp, body),
        }
        url = row["url"]
        try:
            url_checked, host = address.check_url(url)
            if address.literal(host) is not None:  # aiohttp does not resolve an address: check it here
                await address.check_host(host, None, allow_private=self.allow_private)
        except (address.RefusedAddress, ValueError) as exc:
            raise Permanent(f"refused address: {exc}") from None
        except Exception as exc:
            raise Permanent(f"bad URL: {exc}") from None
        try:
            async with asyncio.timeout(self.policy.send_timeout):
                async with self._client().post(url_checked, data=body, headers=headers,
                                               allow_redirects=False) as resp:
                    await resp.read()
                    status = resp.status
        except TimeoutError:
            raise Temporary(f"no answer within {self.policy.send_timeout:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, address.RefusedAddress):
                raise Permanent(f"refused address: {exc.os_error}") from None
            raise Temporary(f"cannot connect: {exc}") from None
        except address.RefusedAddress as exc:
            raise Permanent(f"refused address: {exc}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise Temporary(f"{type(exc).__name__}: {exc}") from None
        if 200 <= status < 300:
            return status
        if status >= 500 or status in RETRY_STATUSES:
            raise Temporary(f"HTTP {status}", status)
        if 300 <= status < 400:
            raise Permanent(f"HTTP {status}: redirects are not followed; register the final URL", status)
        raise Permanent(f"HTTP {status}", status)

    async def _finish(self, sql: str, event_row: int, claim: uuid.UUID, started: float, *args: Any) -> None:
        """Record the outcome; retry while the lease lasts if the database is briefly away."""
        deadline = started + self.policy.lease - 1.0
        delay = 0.2
        while True:
            try:
                async with self.pool.acquire() as conn:
                    await conn.fetchval(sql, event_row, claim, *args)
                return
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError) as exc:
                if time.monotonic() + delay >= deadline:
                    log.error("%s: could not record the outcome of event row %d (%s); it is tried again when its "
                              "lease runs out", self.name, event_row, exc)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
