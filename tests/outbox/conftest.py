from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.outbox.smtp import SmtpServer


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()
