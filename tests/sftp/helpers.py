"""Driving the gateway's SFTP server with the real OpenSSH client (`sftp -b`)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SFTP = shutil.which("sftp")
SSH_KEYGEN = shutil.which("ssh-keygen")

needs_openssh = pytest.mark.skipif(SFTP is None or SSH_KEYGEN is None,
                                   reason="OpenSSH's sftp and ssh-keygen are needed (apt-get install openssh-client)")


def make_key(folder: Path, name: str, kind: str = "ed25519") -> Path:
    """A fresh key pair made by ssh-keygen; returns the private key's path (the public one is .pub)."""
    assert SSH_KEYGEN is not None
    path = folder / name
    subprocess.run([SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-C", f"{name}@test", "-f", str(path)], check=True)
    return path


@dataclass
class Result:
    rc: int
    out: str
    err: str


def sftp_args(port: int, user: str, key: Path, batch: Path) -> list[str]:
    assert SFTP is not None
    return [SFTP, "-b", str(batch), "-P", str(port), "-i", str(key),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "PasswordAuthentication=no",
            "-o", "KbdInteractiveAuthentication=no", "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR",
            "-F", "/dev/null", f"{user}@127.0.0.1"]


async def sftp(port: int, user: str, key: Path, commands: list[str], cwd: Path, seconds: float = 120) -> Result:
    """Run the commands in one `sftp -b` session (a failing command ends it, rc 1)."""
    batch = cwd / f"batch-{user}-{abs(hash(tuple(commands)))}.txt"
    batch.write_text("\n".join(commands) + "\n")
    proc = await asyncio.create_subprocess_exec(*sftp_args(port, user, key, batch), cwd=cwd,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), seconds)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
