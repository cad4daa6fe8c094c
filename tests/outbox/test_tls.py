"""The sender against a real TLS-speaking SMTP server: STARTTLS and implicit TLS (SMTPS).

Certificates come from a throwaway CA made by trustme for each test module; nothing is committed.
The client trusts that CA only when a test hands its PEM file to the transport as `ca_file`, the
way a deployment with a private CA would; otherwise it knows only the system's trust store.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import asyncpg
import pytest
import trustme

from gateway import config
from gateway.outbox.mail import transport
from gateway.outbox.mail.render import MailContext
from gateway.outbox.sender import Sender
from tests.outbox.helpers import FAST, one_delivery, settings_for, status_counts, world
from tests.outbox.seed import Title
from tests.outbox.smtp import SmtpServer

USER, PASSWORD = "gateway", "s3cret-pw"

Mode = Literal["starttls", "smtps"]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server certificate for `names` (host names or IP addresses), signed by `ca`."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(ctx)
    return ctx


@pytest.fixture
async def servers() -> AsyncIterator[list[SmtpServer]]:
    """Servers a test starts; all stopped at the end."""
    started: list[SmtpServer] = []
    yield started
    for s in started:
        await s.stop()


async def start(servers: list[SmtpServer], server: SmtpServer) -> SmtpServer:
    await server.start()
    servers.append(server)
    return server


def tls_sender(
    pool: asyncpg.Pool,
    tmp_path: Path,
    port: int,
    *,
    mode: Mode | None,
    ca_file: Path | None = None,
    login: bool = True,
    password: str = PASSWORD,
) -> Sender:
    settings = settings_for(tmp_path, port)
    smtp = dataclasses.replace(
        settings.smtp,
        ssl=mode == "smtps",
        starttls=mode == "starttls",
        username=USER if login else None,
        password=password if login else None,
    )
    t = transport.SmtpTransport(smtp, local_hostname="test.example", ca_file=ca_file)
    return Sender(pool, t, MailContext.from_settings(settings), FAST)


async def one_notification(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        sid = await world(conn)
        await one_delivery(conn, sid, [Title("Bok", "created", [("Sods", "added")])])


async def the_row(pool: asyncpg.Pool) -> asyncpg.Record:
    async with pool.acquire() as conn:
        row: asyncpg.Record = await conn.fetchrow("SELECT status, attempts, last_error, sent_at FROM notifications")
    return row


def tls_server(ca: trustme.CA, mode: Mode, *names: str, **kwargs: object) -> SmtpServer:
    return SmtpServer(
        tls=mode,
        context=server_context(ca, *names),
        require_starttls=mode == "starttls",
        credentials=(USER, PASSWORD),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
async def test_delivered_over_tls_when_the_ca_is_trusted(
    pool: asyncpg.Pool, tmp_path: Path, ca: trustme.CA, ca_file: Path, servers: list[SmtpServer], mode: Mode
) -> None:
    server = await start(servers, tls_server(ca, mode, "127.0.0.1"))
    await one_notification(pool)
    assert await tls_sender(pool, tmp_path, server.port, mode=mode, ca_file=ca_file).drain() == 1
    assert await status_counts(pool) == {"sent": 1}
    (received,) = server.received
    assert received.tls
    assert received.rcpt_tos == ["forvarv@sh.example"]
    # Logged in, and only once TLS was up.
    assert server.handler.logins == [USER]
    assert server.handler.auth_log
    assert all(tls for _, tls in server.handler.auth_log)


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
async def test_untrusted_certificate_keeps_the_mail_for_a_retry(
    pool: asyncpg.Pool, tmp_path: Path, ca: trustme.CA, ca_file: Path, servers: list[SmtpServer], mode: Mode
) -> None:
    server = await start(servers, tls_server(ca, mode, "127.0.0.1"))
    await one_notification(pool)
    # No CA file: the system trust store does not know the test CA.
    assert await tls_sender(pool, tmp_path, server.port, mode=mode).drain() == 1
    row = await the_row(pool)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("pending", 1, None)
    assert "certificate" in row["last_error"]
    assert "not trusted" in row["last_error"]
    assert server.received == []
    assert server.handler.auth_log == []  # no credentials to a server we could not verify
    # Once the CA is configured, the kept message goes out.
    async with pool.acquire() as conn:
        await conn.execute("UPDATE notifications SET next_attempt_at = now()")
    assert await tls_sender(pool, tmp_path, server.port, mode=mode, ca_file=ca_file).drain() == 1
    assert await status_counts(pool) == {"sent": 1}
    assert len(server.received) == 1


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
async def test_certificate_for_another_host_keeps_the_mail(
    pool: asyncpg.Pool, tmp_path: Path, ca: trustme.CA, ca_file: Path, servers: list[SmtpServer], mode: Mode
) -> None:
    # A trusted CA, but the certificate names another host than the one we connect to.
    server = await start(servers, tls_server(ca, mode, "mail.example.org"))
    await one_notification(pool)
    assert await tls_sender(pool, tmp_path, server.port, mode=mode, ca_file=ca_file).drain() == 1
    row = await the_row(pool)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("pending", 1, None)
    assert "certificate" in row["last_error"]
    assert "127.0.0.1" in row["last_error"]
    assert server.received == []
    assert server.handler.auth_log == []


async def test_server_requires_starttls_but_we_do_not_use_it(
    pool: asyncpg.Pool, tmp_path: Path, ca: trustme.CA, servers: list[SmtpServer]
) -> None:
    server = await start(servers, tls_server(ca, "starttls", "127.0.0.1"))
    await one_notification(pool)
    sender = tls_sender(pool, tmp_path, server.port, mode=None, login=False)
    assert await sender.drain() == 1
    row = await the_row(pool)
    # A configuration problem, not a problem with the message: kept for a retry, and the error
    # says what to change.
    assert (row["status"], row["attempts"], row["sent_at"]) == ("pending", 1, None)
    assert "530" in row["last_error"]
    assert "FORVARV_SMTP_STARTTLS" in row["last_error"]
    assert server.received == []


async def test_no_password_over_a_plain_connection(
    pool: asyncpg.Pool, tmp_path: Path, servers: list[SmtpServer]
) -> None:
    # A careless server that offers AUTH without TLS; we have credentials and no TLS configured.
    server = await start(servers, SmtpServer(credentials=(USER, PASSWORD), auth_require_tls=False))
    await one_notification(pool)
    assert await tls_sender(pool, tmp_path, server.port, mode=None).drain() == 1
    row = await the_row(pool)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("pending", 1, None)
    assert "without TLS" in row["last_error"]
    assert server.handler.auth_log == []
    assert server.handler.logins == []
    assert server.received == []


async def test_starttls_configured_but_not_offered_sends_nothing_in_the_clear(
    pool: asyncpg.Pool, tmp_path: Path, servers: list[SmtpServer]
) -> None:
    # A server (or something in between) that does not offer STARTTLS: no fallback to plain text.
    server = await start(servers, SmtpServer(credentials=(USER, PASSWORD), auth_require_tls=False))
    await one_notification(pool)
    assert await tls_sender(pool, tmp_path, server.port, mode="starttls", login=False).drain() == 1
    row = await the_row(pool)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("pending", 1, None)
    assert "does not offer STARTTLS" in row["last_error"]
    assert server.received == []


async def test_unreadable_ca_file_keeps_the_mail(
    pool: asyncpg.Pool, tmp_path: Path, ca: trustme.CA, servers: list[SmtpServer]
) -> None:
    server = await start(servers, tls_server(ca, "smtps", "127.0.0.1"))
    await one_notification(pool)
    missing = tmp_path / "no-such-ca.pem"
    assert await tls_sender(pool, tmp_path, server.port, mode="smtps", ca_file=missing).drain() == 1
    row = await the_row(pool)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert str(missing) in row["last_error"]
    assert server.received == []


async def test_refused_login_keeps_the_mail_and_warns(
    pool: asyncpg.Pool,
    tmp_path: Path,
    ca: trustme.CA,
    ca_file: Path,
    servers: list[SmtpServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await start(servers, tls_server(ca, "starttls", "127.0.0.1"))
    await one_notification(pool)
    sender = tls_sender(pool, tmp_path, server.port, mode="starttls", ca_file=ca_file, password="wrong")
    with caplog.at_level(logging.INFO, logger="gateway.outbox.sender"):
        assert await sender.drain() == 1
    row = await the_row(pool)
    # A wrong password is the gateway's configuration, not the message's: kept, not failed.
    assert (row["status"], row["attempts"], row["sent_at"]) == ("pending", 1, None)
    assert "535" in row["last_error"]
    assert "FORVARV_SMTP_PASSWORD" in row["last_error"]
    assert server.handler.auth_log
    assert all(tls for _, tls in server.handler.auth_log)
    assert server.handler.logins == []
    assert server.received == []
    (record,) = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert record.levelno == logging.WARNING


async def test_ca_file_from_the_environment_reaches_the_transport(
    pool: asyncpg.Pool, tmp_path: Path, ca: trustme.CA, ca_file: Path, servers: list[SmtpServer]
) -> None:
    """FORVARV_SMTP_CA_FILE, read at the edge, is what the transport `forvarv serve` builds trusts."""
    server = await start(servers, tls_server(ca, "starttls", "127.0.0.1"))
    await one_notification(pool)
    settings = config.from_env({
        "FORVARV_SMTP_HOST": "127.0.0.1", "FORVARV_SMTP_PORT": str(server.port), "FORVARV_SMTP_STARTTLS": "true",
        "FORVARV_SMTP_USER": USER, "FORVARV_SMTP_PASSWORD": PASSWORD, "FORVARV_SMTP_CA_FILE": str(ca_file),
        "FORVARV_DATA_DIR": str(tmp_path),
    })
    assert settings.smtp.ca_file == str(ca_file)
    t = transport.for_settings(settings.smtp, settings.data_dir, local_hostname="test.example")
    sender = Sender(pool, t, MailContext.from_settings(settings_for(tmp_path, server.port)), FAST)
    assert await sender.drain() == 1
    assert await status_counts(pool) == {"sent": 1}
    assert server.received[0].tls
