"""`forvarv serve --demo` with SFTP: a key pair for the demo supplier, kept in the data directory."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import asyncpg
import asyncssh

from gateway.errors import Conflict
from gateway.sftp import keys

#: The demo's SFTP port when FORVARV_SFTP_PORT is not set.
DEMO_PORT = 2222


def _key_file(data_dir: Path, code: str) -> Path:
    path = data_dir / "demo_sftp_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{code}@forvarv-demo")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.export_private_key())
        path.with_suffix(".pub").write_bytes(key.export_public_key())
    return path


async def demo_key(conn: asyncpg.Connection, data_dir: Path, code: str) -> Path:
    """The demo supplier's private key file (made once), its public key registered to `code`."""
    path = _key_file(data_dir, code)
    public = asyncssh.read_private_key(path).export_public_key().decode("ascii")
    with contextlib.suppress(Conflict):
        await keys.add_key(conn, code, public)
    return path


def instructions(key: Path, host: str, port: int, code: str) -> str:
    return (f"  deliver by SFTP:           sftp -P {port} -i {key} {code}@{host}\n"
            "                             then: put records.xml incoming/   and later: ls reports/"
            " (docs/sftp.md)\n")
