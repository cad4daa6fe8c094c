from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from gateway.config import Settings, SmtpSettings
from gateway.outbox import queue as outbox
from gateway.outbox.mail import transport
from gateway.outbox.mail.render import MailContext
from gateway.outbox.sender import Sender, SenderPolicy
from tests.outbox import seed
from tests.outbox.seed import Title

ADMIN_TOKEN = "mail-admin-token"

#: Retries within milliseconds, so outages in tests last a moment.
FAST = SenderPolicy(
    poll_interval=0.05,
    base_delay=0.05,
    max_delay=0.2,
    max_attempts=50,
    send_timeout=5.0,
    lease_margin=1.0,
    digest_interval=3600.0,
)


def settings_for(tmp_path: Path, smtp_port: int | None) -> Settings:
    smtp = SmtpSettings(
        host="127.0.0.1" if smtp_port else None,
        port=smtp_port or 25,
        timeout=5.0,
        sender="forvarv@gateway.example",
    )
    return Settings(
        data_dir=tmp_path,
        public_url="https://forvarv.example.org",
        repository_id="forvarv.example.org",
        admin_token=ADMIN_TOKEN,
        secret="test",
        smtp=smtp,
    )


def sender_for(
    pool: asyncpg.Pool, settings: Settings, policy: SenderPolicy = FAST, name: str = "s"
) -> Sender:
    return Sender(
        pool,
        transport.for_settings(settings.smtp, settings.data_dir, local_hostname="test.example"),
        MailContext.from_settings(settings),
        policy,
        name=name,
    )


async def wait_until(check: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    """Poll the database (or the SMTP server) until `check` holds; there is no event to wait on."""
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def world(conn: asyncpg.Connection) -> int:
    """Supplier BTJ; libraries Sods (Swedish) and Li (English, two addresses)."""
    sid = await seed.supplier(conn)
    await seed.library(conn, "Sods", "Södertörns högskolebibliotek", ["forvarv@sh.example"])
    await seed.library(
        conn, "Li", "Linköping City Library", ["acq@li.example", "cataloguing@li.example"], language="en"
    )
    return sid


async def one_delivery(conn: asyncpg.Connection, sid: int, titles: list[Title]) -> int:
    did = await seed.delivery(conn, sid, titles)
    async with conn.transaction():
        await outbox.enqueue_for_delivery(conn, did)
    return did


async def books_for_both(pool: asyncpg.Pool, count: int) -> None:
    """`world`, then `count` deliveries of one new title each ("Bok 0", …) held by Sods and Li:
    2 x count notifications, one per delivery and library."""
    async with pool.acquire() as conn:
        sid = await world(conn)
        for i in range(count):
            await one_delivery(conn, sid, [Title(f"Bok {i}", "created", [("Sods", "added"), ("Li", "added")])])


async def status_counts(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM notifications GROUP BY status")
    return {r["status"]: r["n"] for r in rows}
