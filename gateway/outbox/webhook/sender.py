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
event succeeds, and one WARNING line says so (the webhook's id, library and site - scheme, host
and port, never the path or query, which may carry a receiver's credentials, nor the secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

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
        where = site(row["url"])
        if row["attempts"] > self.policy.max_attempts:
            why = "too many attempts whose outcome is unknown"
            if await self._finish(_FAILED, row["id"], claim, started, why, None) == "failed":
                self._failing(row, why)
            return True
        try:
            status = await self._post(row)
        except Permanent as exc:
            why = redact(str(exc), row["url"])[:1000]
            if await self._finish(_FAILED, row["id"], claim, started, why, exc.status) == "failed":
                self._failing(row, why)
        except Temporary as exc:
            delay = self.policy.backoff(row["attempts"])
            why = redact(str(exc), row["url"])[:1000]
            outcome = await self._finish(_RETRY, row["id"], claim, started, why, exc.status,
                                         self.policy.max_attempts, delay)
            if outcome == "failed":
                self._failing(row, f"gave up after {row['attempts']} attempts; last: {why}")
            else:
                log.info("%s: event %s to %s not delivered (%s); retry in %.0f s", self.name, row["event_id"],
                         where, why, delay)
        else:
            await self._finish(_SENT, row["id"], claim, started, status)
            log.info("%s: event %s delivered to %s (%d)", self.name, row["event_id"], where, status)
        return True

    def _failing(self, row: Any, why: str) -> None:
        """The one WARNING line of a webhook marked failing (no secret, no path or query of its URL)."""
        log.warning("%s: webhook %d of library %s (%s) marked failing: event %s not delivered: %s", self.name,
                    row["webhook_id"], row["sigel"], site(row["url"]), row["event_id"], why)

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

    async def _finish(self, sql: str, event_row: int, claim: uuid.UUID, started: float, *args: Any) -> Any:
        """Record the outcome and return what the statement returns (the event's status, if it says;
        None if the claim was lost); retry while the lease lasts if the database is briefly away."""
        deadline = started + self.policy.lease - 1.0
        delay = 0.2
        while True:
            try:
                async with self.pool.acquire() as conn:
                    return await conn.fetchval(sql, event_row, claim, *args)
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError) as exc:
                if time.monotonic() + delay >= deadline:
                    log.error("%s: could not record the outcome of event row %d (%s); it is tried again when its "
                              "lease runs out", self.name, event_row, exc)
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


def site(url: str) -> str:
    """scheme://host[:port] of a webhook URL, for logs: its path, query and user info are left out."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme or '?'}://{host}{port}"


def redact(text: str, url: str) -> str:
    """`text` with the URL (which may carry credentials in its path or query) replaced by its site."""
    return text.replace(url, site(url)) if url else text
