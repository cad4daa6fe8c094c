"""Where a benchmark's database comes from, what the intake benchmarks register in it, and a free
loopback port for its server.

With FORVARV_DATABASE_URL a benchmark runs on a scratch database of that server, created for
the run and dropped afterwards (the named database itself is never touched). Without it, it
runs on an embedded PostgreSQL: in `data_dir` when given (kept, so a second run can reuse what
the first loaded), else in a temporary folder; either way the server is stopped before the
benchmark exits, and a temporary folder is removed only after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from gateway import registry
from gateway.store import embedded

#: The libraries the benchmark supplier (BENCH) delivers holdings for.
SIGELS = ["Sods", "Nyks", "Li", "G"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def database(name: str, data_dir: Path | None = None) -> Iterator[str]:
    """A database URL for the run. Call outside any event loop (it runs its own for set-up)."""
    external = os.environ.get("FORVARV_DATABASE_URL")
    if external:
        scratch = f"forvarv_{name}_{os.getpid()}"
        asyncio.run(_execute(external, f"CREATE DATABASE {scratch}"))
        try:
            yield urlunsplit(urlsplit(external)._replace(path="/" + scratch))
        finally:
            asyncio.run(_execute(external, f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))
        return
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"forvarv-{name}-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o755)  # the embedded server runs unprivileged when we are root
        url = embedded.start(data_dir)
        stack.callback(embedded.stop, data_dir)  # before the temporary folder goes
        yield url


async def register_supplier(conn: asyncpg.Connection) -> str:
    """The supplier BENCH with the libraries of SIGELS as its customers; its API token."""
    await registry.add_supplier(conn, "BENCH", "Benchmark supplier")
    _, token = await registry.create_token(conn, "BENCH")
    for sigel in SIGELS:
        await registry.add_library(conn, sigel, f"Library {sigel}", [f"{sigel.lower()}@example.org"])
        await registry.add_customer(conn, "BENCH", sigel)
    return token


async def drop_search_triggers(conn: asyncpg.Connection) -> None:
    """Load without the SRU index triggers of 0003_search (an experiment: what they cost)."""
    await conn.execute("DROP TRIGGER IF EXISTS bib_records_search_insert ON bib_records")
    await conn.execute("DROP TRIGGER IF EXISTS bib_records_search_update ON bib_records")
