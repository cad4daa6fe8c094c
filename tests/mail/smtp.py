"""A real SMTP server for the tests: aiosmtpd's Controller on loopback, in its own thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

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

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply:
            return self.reply
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        if self.delay:
            await asyncio.sleep(self.delay)
        while self.hold.is_set():
            self.holding.set()
            await asyncio.sleep(0.01)
        return "250 2.0.0 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SmtpServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = Handler()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    async def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
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
