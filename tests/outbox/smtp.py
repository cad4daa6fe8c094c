"""A real SMTP server for the tests: aiosmtpd's Controller on loopback, in its own thread.

Plain by default; with `tls="starttls"` it offers STARTTLS (and can require it), with
`tls="smtps"` it speaks TLS from the first byte (implicit TLS, as on port 465). With
`credentials` it offers AUTH and logs every AUTH command it sees, with whether TLS was up.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.ports import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool = False  # the message came over a TLS connection

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=default)
        assert isinstance(msg, EmailMessage)
        return msg


class Handler:
    """Accepts everything, or answers DATA with `reply` (e.g. '451 …', '550 …').

    With `hold` set, a message is recorded but the 250 waits until `hold` is cleared: the window
    in which the server has the message and the sender does not know yet.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.reply: str | None = None
        self.delay = 0.0
        self.hold = threading.Event()
        self.holding = threading.Event()
        #: Every AUTH command the server saw: (mechanism, whether TLS was up at that moment).
        self.auth_log: list[tuple[str, bool]] = []
        #: Logins the authenticator accepted.
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply:
            return self.reply
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content), tls=_tls_up(server))
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        while self.hold.is_set():
            self.holding.set()
            await asyncio.sleep(0.01)
        return "250 2.0.0 Message accepted for delivery"


def _tls_up(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _LoggingSMTP(SMTP):
    """aiosmtpd's server, noting each AUTH command (and whether TLS was up) before handling it."""

    async def smtp_AUTH(self, arg: str) -> None:
        handler = self.event_handler
        assert isinstance(handler, Handler)
        handler.auth_log.append(((arg.split() or [""])[0].upper(), _tls_up(self)))
        await super().smtp_AUTH(arg)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _LoggingSMTP(self.handler, **self.SMTP_kwargs)


class SmtpServer:
    def __init__(
        self,
        port: int | None = None,
        *,
        tls: Literal["starttls", "smtps"] | None = None,
        context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        credentials: tuple[str, str] | None = None,
        auth_require_tls: bool = True,
    ) -> None:
        """`context`: the server's certificate (needed with `tls`). `auth_require_tls=False`
        offers AUTH on a plain connection too (a careless server: the client must still refuse)."""
        if tls and context is None:
            raise ValueError("a TLS server needs a context with its certificate")
        self.port = port or free_port()
        self.handler = Handler()
        self.tls = tls
        self._context = context
        self._require_starttls = require_starttls
        self._credentials = credentials
        self._auth_require_tls = auth_require_tls
        self._controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and self._credentials is not None:
            login, password = data.login.decode(), data.password.decode()
            if (login, password) == self._credentials:
                self.handler.logins.append(login)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    async def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.tls == "smtps":
            kwargs["ssl_context"] = self._context
        elif self.tls == "starttls":
            kwargs["tls_context"] = self._context
            kwargs["require_starttls"] = self._require_starttls
        if self._credentials is not None:
            kwargs["authenticator"] = self._authenticate
            # aiosmtpd does not count implicit TLS as TLS for AUTH; the log above does.
            kwargs["auth_require_tls"] = self._auth_require_tls and self.tls != "smtps"
        self._controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)
        await asyncio.to_thread(self._controller.start)

    async def stop(self) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None

    def by_message_id(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.received:
            mid = str(r.message["Message-ID"])
            counts[mid] = counts.get(mid, 0) + 1
        return counts
