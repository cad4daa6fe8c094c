from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.config import Settings, SmtpSettings
from tests.mail.smtp import SmtpServer

ADMIN_TOKEN = "mail-admin-token"


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


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
