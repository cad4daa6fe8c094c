"""The sender: takes due notifications from the outbox and hands them to the transport.

Claiming. A sender claims one row at a time with FOR UPDATE SKIP LOCKED and marks it 'sending'
with a lease (lease_until) and a claim token, then commits, so no transaction stays open while
talking to the mail server. Other senders, in this process or another, skip it. The whole SMTP
exchange is bounded by `send_timeout`, which is shorter than the lease, so a lease never runs
out while its sender is still sending: two senders never send the same message at once.

Outcome. Accepted → 'sent' ('spooled' when the transport only wrote it to the spool folder).
Temporary failure (no connection, timeout, 4xx, and a TLS or login
problem, which is the configuration's and not the message's) → 'pending' again after an
exponential backoff, or 'failed' after `max_attempts`. Permanent failure (5xx) → 'failed'.
Each update names the claim token, so a sender that lost its lease changes nothing.

The at-least-once edge. If the process dies after the server accepted a message but before
'sent' is committed, the lease runs out and another sender sends it again, with the same
Message-ID (a receiving system can recognise the repeat). The window is one database round trip
wide: 'sent' is written right after the server's 250 to DATA, before anything else, and retried
(while the lease lasts) if the database is briefly unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from gateway.outbox import queue as outbox
from gateway.outbox.mail.render import MailContext, render
from gateway.outbox.mail.transport import (
    ConfigurationFailure,
    ConnectionFailure,
    DeliveryError,
    PermanentFailure,
    Transport,
)
from gateway.store.queries import load

Q = load("sender")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SenderPolicy:
    poll_interval: float = 5.0  # seconds between looks at the outbox when idle
    base_delay: float = 60.0  # first retry after about a minute …
    max_delay: float = 3600.0  # … doubling up to an hour
    max_attempts: int = 10  # then 'failed' (about 9 hours of trying with the defaults)
    send_timeout: float = 90.0  # one message's whole SMTP exchange
    lease_margin: float = 60.0  # lease = send_timeout + lease_margin
    digest_interval: float = 300.0  # how often to look for digests to build

    @property
    def lease(self) -> float:
        return self.send_timeout + self.lease_margin

    def backoff(self, attempts: int) -> float:
        delay = min(self.max_delay, self.base_delay * 2.0 ** max(0, attempts - 1))
        return float(delay * random.uniform(0.85, 1.15))


# An expired lease first (its sender died), else the longest-due pending row; each through its own
# partial index, so claiming stays cheap however many sent rows the table keeps.
_CLAIM = Q["claim"]

_SENT = Q["sent"]

_RETRY = Q["retry"]

_FAILED = Q["failed"]


class Sender:
    def __init__(
        self,
        pool: asyncpg.Pool,
        transport: Transport,
        ctx: MailContext,
        policy: SenderPolicy | None = None,
        *,
        name: str = "sender",
    ) -> None:
        self.pool = pool
        self.transport = transport
        self.ctx = ctx
        self.policy = policy or SenderPolicy()
        self.name = name

    # --- the loop ------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set; a message being sent is finished first."""
        log.info("%s: sending e-mail via %s", self.name, self.transport.description)
        next_digest = 0.0
        try:
            while not stop.is_set():
                busy = False
                try:
                    if time.monotonic() >= next_digest:
                        async with self.pool.acquire() as conn:
                            built = await outbox.build_digests(conn)
                        if built:
                            log.info("%s: built %d daily digest(s)", self.name, built)
                        next_digest = time.monotonic() + self.policy.digest_interval
                    busy = await self.send_one()
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                    log.warning("%s: outbox unavailable (%s); trying again shortly", self.name, exc)
                except Exception:
                    log.exception("%s: unexpected error; carrying on after a pause", self.name)
                if not busy:
                    await self.transport.close()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self.policy.poll_interval)
        finally:
            await self.transport.close()

    async def drain(self) -> int:
        """Send everything due now; return how many were handled (tests, CLI)."""
        handled = 0
        while await self.send_one():
            handled += 1
        await self.transport.close()
        return handled

    # --- one message ---------------------------------------------------------------------------
    async def _claim(self, claim: uuid.UUID) -> asyncpg.Record | None:
        async with self.pool.acquire() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(_CLAIM, claim, self.policy.lease)
            return row

    async def send_one(self) -> bool:
        """Claim one due notification and try to send it; False when nothing was due."""
        claim = uuid.uuid4()
        row = await self._claim(claim)
        if row is None:
            return False
        started = time.monotonic()
        nid = row["id"]
        if row["attempts"] > self.policy.max_attempts:
            # Only reachable when leases kept running out (a sender dying mid-send each time).
            error = "too many attempts whose outcome is unknown"
            await self._finish(_FAILED, nid, claim, started, error, None)
            return True
        try:
            outgoing = outbox.to_outgoing(row)
            rendered = render(outgoing, self.ctx)
        except Exception as exc:
            log.exception("%s: cannot render notification %d", self.name, nid)
            await self._finish(_FAILED, nid, claim, started, f"cannot render: {exc}", None)
            return True
        message_id = str(rendered.message["Message-ID"])
        bad = None
        if rendered.bad_addresses:
            bad = f"invalid addresses left out: {', '.join(rendered.bad_addresses)}"
        if not rendered.recipients:
            await self._finish(_FAILED, nid, claim, started, bad or outbox.NO_ADDRESS, message_id)
            return True
        try:
            async with asyncio.timeout(self.policy.send_timeout):
                note = await self.transport.send(rendered.message, self.ctx.sender, rendered.recipients)
        except TimeoutError:
            await self.transport.close()
            failure: DeliveryError = ConnectionFailure(f"no answer within {self.policy.send_timeout:g} s")
        except DeliveryError as exc:
            failure = exc
        else:
            # Accepted: record it first, before anything else can go wrong.
            notes = "; ".join(x for x in (note, bad) if x) or None
            status = self.transport.accepted_status
            await self._finish(_SENT, nid, claim, started, message_id, rendered.recipients, notes, status)
            to = ", ".join(rendered.recipients)
            log.info("%s: notification %d %s to %s (%s)", self.name, nid, status, to, message_id)
            return True
        text = str(failure)[:1000]
        if isinstance(failure, PermanentFailure):
            log.warning("%s: notification %d failed: %s", self.name, nid, text)
            await self._finish(_FAILED, nid, claim, started, text, message_id)
        else:
            delay = self.policy.backoff(row["attempts"])
            # Something an operator has to fix (TLS, login) is a warning; a busy server is not.
            level = logging.WARNING if isinstance(failure, ConfigurationFailure) else logging.INFO
            log.log(level, "%s: notification %d not sent (%s); retry in %.0f s", self.name, nid, text, delay)
            await self._finish(_RETRY, nid, claim, started, text, message_id, self.policy.max_attempts, delay)
        return True

    async def _finish(self, sql: str, nid: int, claim: uuid.UUID, started: float, *args: Any) -> None:
        """Record the outcome; retry while the lease lasts if the database is briefly away."""
        deadline = started + self.policy.lease - 1.0
        delay = 0.2
        while True:
            try:
                async with self.pool.acquire() as conn:
                    status = await conn.fetchval(sql, nid, claim, *args)
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError) as exc:
                if time.monotonic() + delay >= deadline:
                    log.error(
                        "%s: could not record the outcome of notification %d (%s); "
                        "when its lease runs out it will be tried again",
                        self.name,
                        nid,
                        exc,
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if status is None:
                log.warning(
                    "%s: lost the lease on notification %d before recording its outcome", self.name, nid
                )
            return
