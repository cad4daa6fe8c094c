"""Where rendered messages go: an SMTP server (aiosmtplib), or `.eml` files in a spool folder.

Failures are sorted into temporary (try again later: the server could not be reached, timed
out, answered 4xx, or will not take mail from us as configured: see TLS below) and permanent
(any other 5xx, or an extension the message needs and the server lacks).

TLS. With `ssl` the connection is TLS from the first byte (implicit TLS, port 465); with
`starttls` it is upgraded before anything else is said, and a server that does not offer
STARTTLS gets nothing (no fallback to plain text). The server's certificate is checked against
the system's trust store plus an optional CA file, and must name the configured host. A
password is only ever sent once TLS is up. Problems of this kind (an untrusted certificate, a
server that wants STARTTLS or a login, a refused login) are the gateway's configuration, not the
message's, so they are temporary failures: the message stays in the outbox and goes out once
the configuration is fixed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
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


class ConfigurationFailure(TemporaryFailure):
    """The server will not take mail from us as configured (TLS, STARTTLS, login): the message is
    kept and tried again, and the sender logs it as a warning, since someone has to act."""


class PermanentFailure(DeliveryError):
    """Trying again will not help (5xx, or a message the server cannot take)."""


class Transport(Protocol):
    description: str
    #: The outbox status of a message this transport took: 'sent' (a mail server accepted it) or
    #: 'spooled' (written to the spool folder; it has not left this machine).
    accepted_status: str

    async def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> str | None:
        """Hand the message over; return a note (e.g. recipients refused), or raise DeliveryError."""

    async def close(self) -> None:
        """Let go of any connection (called when idle and at the end)."""


#: OpenSSL's verify codes for "signed by a CA we do not know" and for a certificate for another host.
_UNKNOWN_CA = {18, 19, 20, 21}  # self-signed leaf or chain, issuer not found, cannot verify leaf
_HOSTNAME_MISMATCH = 62


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind `exc` (aiosmtplib wraps it when the connection is opened)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _tls_failure(err: ssl.SSLError) -> TemporaryFailure:
    if isinstance(err, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return ConnectionFailure(f"the SMTP server closed the TLS connection: {err}")
    if isinstance(err, ssl.SSLCertVerificationError):
        why = err.verify_message or str(err)
        if err.verify_code == _HOSTNAME_MISMATCH:
            hint = "; FORVARV_SMTP_HOST must be a name (or address) the certificate is for"
        elif err.verify_code in _UNKNOWN_CA:
            hint = "; if a private CA signed it, name that CA's certificate in FORVARV_SMTP_CA_FILE"
        else:
            hint = ""
        return ConfigurationFailure(f"TLS: the SMTP server's certificate is not trusted: {why}{hint}")
    return ConfigurationFailure(f"TLS with the SMTP server failed: {err}")


def classify(exc: BaseException) -> DeliveryError:
    """A DeliveryError for whatever sending raised."""
    if isinstance(exc, DeliveryError):
        return exc
    tls = _ssl_error(exc)
    if tls is not None:
        return _tls_failure(tls)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        if any(400 <= code < 500 for code in codes):
            return TemporaryFailure(f"recipients refused: {text}")
        return PermanentFailure(f"recipients refused: {text}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        msg = f"{type(exc).__name__}: {exc.code} {exc.message}"
        # The server refuses us, not the message: our configuration is wrong, and the message
        # must wait until it is fixed rather than be marked failed.
        if exc.code == 530 and "starttls" in exc.message.lower():
            return ConfigurationFailure(
                f"the SMTP server requires STARTTLS ({exc.code} {exc.message}); set FORVARV_SMTP_STARTTLS=true"
            )
        if exc.code == 530:
            return ConfigurationFailure(
                f"the SMTP server requires a login ({exc.code} {exc.message}); "
                "set FORVARV_SMTP_USER and FORVARV_SMTP_PASSWORD"
            )
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or exc.code in (534, 535, 538):
            return ConfigurationFailure(
                f"the SMTP server refused our login ({exc.code} {exc.message}); "
                "check FORVARV_SMTP_USER and FORVARV_SMTP_PASSWORD"
            )
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
    accepted_status = "sent"

    def __init__(
        self,
        smtp: SmtpSettings,
        *,
        local_hostname: str | None = None,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        """`ca_file`: PEM certificate(s) of CAs to trust besides the system's trust store
        (default: the settings' `ca_file`, FORVARV_SMTP_CA_FILE)."""
        if not smtp.host:
            raise ValueError("SmtpTransport needs an SMTP host")
        self._smtp = smtp
        self._local_hostname = local_hostname
        ca_file = ca_file if ca_file is not None else smtp.ca_file
        self._ca_file = os.fspath(ca_file) if ca_file else None
        self._tls: ssl.SSLContext | None = None
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        tls = "ssl" if smtp.ssl else "starttls" if smtp.starttls else "plain"
        if self._ca_file and tls != "plain":
            tls += f", CA file {self._ca_file}"
        self.description = f"smtp://{smtp.host}:{smtp.port} ({tls})"
        if smtp.username and tls == "plain":
            log.warning(
                "FORVARV_SMTP_USER is set but neither STARTTLS nor SSL is: the password will not be "
                "sent, and no e-mail will go out, until one of them is turned on"
            )

    def _tls_context(self) -> ssl.SSLContext:
        """The system's trust store, plus the CA file if there is one; certificates and host names
        are checked (TLS 1.2 or later). Built once."""
        if self._tls is None:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            if self._ca_file:
                try:
                    ctx.load_verify_locations(cafile=self._ca_file)
                except (OSError, ValueError) as exc:
                    raise ConfigurationFailure(f"cannot load the CA file {self._ca_file}: {exc}") from exc
            self._tls = ctx
        return self._tls

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
        starttls = bool(s.starttls and not s.ssl)
        tls = await asyncio.to_thread(self._tls_context) if s.ssl or starttls else None
        # TLS and the login are done here, step by step, rather than left to connect(), so that
        # nothing (the password least of all) is said in the clear when TLS was asked for.
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.ssl,
            start_tls=False,
            tls_context=tls,
            timeout=s.timeout,
            local_hostname=self._local_hostname,
        )
        await client.connect()
        try:
            if starttls:
                await client.ehlo()
                if not client.supports_extension("starttls"):
                    raise ConfigurationFailure(
                        "the SMTP server does not offer STARTTLS (FORVARV_SMTP_STARTTLS is on); "
                        "nothing was sent without TLS"
                    )
                await client.starttls()
            if s.username:
                if client.get_transport_info("sslcontext") is None:
                    raise ConfigurationFailure(
                        "refusing to send the SMTP password on a connection without TLS; "
                        "set FORVARV_SMTP_STARTTLS=true or FORVARV_SMTP_SSL=true"
                    )
                await client.login(s.username, s.password or "")
        except BaseException:
            client.close()
            raise
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

    accepted_status = "spooled"

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


def for_settings(
    smtp: SmtpSettings,
    data_dir: Path,
    *,
    local_hostname: str | None = None,
) -> Transport:
    if smtp.host:
        return SmtpTransport(smtp, local_hostname=local_hostname)
    return SpoolTransport(data_dir / "outbox")
