"""Where rendered messages go: an SMTP server (aiosmtplib), or `.eml` files in a spool folder.

Failures are sorted into temporary (try again later: the server could not be reached, timed
out, or answered 4xx) and permanent (5xx, or a configuration the server cannot serve).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from gateway.config import SmtpSettings

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A message was not accepted."""


class TemporaryFailure(DeliveryError):
    """Try again later."""


class ConnectionFailure(TemporaryFailure):
    """The server could not be reached or dropped the connection."""


class PermanentFailure(DeliveryError):
    """Trying again will not help (5xx, or a message the server cannot take)."""


class Transport(Protocol):
    description: str

    async def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> str | None:
        """Hand the message over; return a note (e.g. recipients refused), or raise DeliveryError."""

    async def close(self) -> None:
        """Let go of any connection (called when idle and at the end)."""


def classify(exc: BaseException) -> DeliveryError:
    """A DeliveryError for whatever sending raised."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        if any(400 <= code < 500 for code in codes):
            return TemporaryFailure(f"recipients refused: {text}")
        return PermanentFailure(f"recipients refused: {text}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        msg = f"{type(exc).__name__}: {exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            return PermanentFailure(msg)
        if isinstance(exc, aiosmtplib.SMTPConnectError):
            return ConnectionFailure(msg)
        return TemporaryFailure(msg)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentFailure(f"the SMTP server does not support what is needed: {exc}")
    if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, ConnectionError)):
        return ConnectionFailure(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (TimeoutError, aiosmtplib.SMTPTimeoutError)):
        return ConnectionFailure(f"timed out: {exc}")
    if isinstance(exc, OSError):
        return ConnectionFailure(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, aiosmtplib.SMTPException):
        return TemporaryFailure(f"{type(exc).__name__}: {exc}")
    return PermanentFailure(f"{type(exc).__name__}: {exc}")


class SmtpTransport:
    """One connection, opened on first use, reused while busy, checked with NOOP after a pause."""

    #: Reuse an idle connection without a NOOP probe for this long (seconds).
    FRESH = 2.0

    def __init__(self, smtp: SmtpSettings, *, local_hostname: str | None = None) -> None:
        if not smtp.host:
            raise ValueError("SmtpTransport needs an SMTP host")
        self._smtp = smtp
        self._local_hostname = local_hostname
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        tls = "ssl" if smtp.ssl else "starttls" if smtp.starttls else "plain"
        self.description = f"smtp://{smtp.host}:{smtp.port} ({tls})"

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            if time.monotonic() - self._last_used < self.FRESH:
                return self._client
            try:
                await self._client.noop()
                return self._client
            except aiosmtplib.SMTPException:
                await self.close()
        s = self._smtp
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.ssl,
            start_tls=bool(s.starttls and not s.ssl),
            username=s.username,
            password=s.password,
            timeout=s.timeout,
            local_hostname=self._local_hostname,
        )
        await client.connect()
        self._client = client
        return client

    async def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> str | None:
        try:
            client = await self._connected()
            refused, _ = await client.send_message(message, sender=sender, recipients=recipients)
        except Exception as exc:
            await self.close()
            raise classify(exc) from exc
        except BaseException:  # cancelled (a timeout around us): drop the connection, no QUIT
            self._drop()
            raise
        self._last_used = time.monotonic()
        if refused:
            return "refused: " + "; ".join(f"{rcpt}: {r.code} {r.message}" for rcpt, r in refused.items())
        return None

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await asyncio.wait_for(client.quit(), timeout=5)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._=@-]")


class SpoolTransport:
    """No SMTP host configured: each message becomes `<Message-ID>.eml` in a folder, and a log line.

    The name comes from the Message-ID, so a retry of the same message replaces the file
    instead of adding a second one. Files are written whole (temporary name, fsync, rename).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.description = f"spool folder {folder}"

    def path_for(self, message: EmailMessage) -> Path:
        mid = str(message["Message-ID"] or "").strip("<> ")
        name = _UNSAFE_NAME.sub("_", mid.replace("%", "=")) or "message"
        return self.folder / f"{name[:200]}.eml"

    async def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> str | None:
        path = self.path_for(message)
        data = message.as_bytes()
        try:
            await asyncio.to_thread(self._write, path, data)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write {path}: {exc}") from exc
        log.info("e-mail to %s written to %s (no SMTP host configured)", ", ".join(recipients), path)
        return None

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    async def close(self) -> None:
        return None


def for_settings(smtp: SmtpSettings, data_dir: Path, *, local_hostname: str | None = None) -> Transport:
    if smtp.host:
        return SmtpTransport(smtp, local_hostname=local_hostname)
    return SpoolTransport(data_dir / "outbox")
