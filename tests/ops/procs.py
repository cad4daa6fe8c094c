"""Gateway processes for the ops tests: `forvarv serve/web/worker/mailer` as real OS processes, from
this environment's script, each on the test's database, with their output captured."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg

from tests.ports import free_port

FORVARV = str(Path(sys.executable).with_name("forvarv"))
ADMIN_TOKEN = "ops-admin-token-4e1b"


def env(db_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("FORVARV_")}
    e.update(FORVARV_DATABASE_URL=db_url, FORVARV_DATA_DIR=str(data_dir), FORVARV_PARSE_PROCESS="0",
             FORVARV_ADMIN_TOKEN=ADMIN_TOKEN, FORVARV_SECRET="ops-test-secret", FORVARV_HEARTBEAT_SECONDS="0.5",
             FORVARV_STOP_TIMEOUT="10")
    e.update(extra)
    return e


@dataclass
class Proc:
    role: str
    proc: asyncio.subprocess.Process
    port: int | None
    banner: str = ""
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        return "\n".join(self.err)

    async def stop(self, signum: int = signal.SIGTERM, within: float = 60) -> int:
        """Send `signum`, wait for the exit (at most `within` s: a generous ceiling, not a measure)."""
        if self.proc.returncode is None:
            self.proc.send_signal(signum)
        code = await asyncio.wait_for(self.proc.wait(), within)
        for r in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await r
        return code


async def _pump(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode(errors="replace").rstrip("\n"))


async def start(role: str, environ: dict[str, str], *args: str) -> Proc:
    """Start `forvarv ROLE` and wait for its start line (it prints one when it is serving)."""
    port = free_port() if role in ("serve", "web") else None
    argv = [FORVARV, role, *args]
    if port is not None:
        argv += ["--port", str(port)]
    proc = await asyncio.create_subprocess_exec(*argv, env=environ, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, start_new_session=True)
    p = Proc(role, proc, port)
    assert proc.stdout is not None and proc.stderr is not None
    p._readers.append(asyncio.create_task(_pump(proc.stderr, p.err)))
    async with asyncio.timeout(90):
        while True:
            line = await proc.stdout.readline()
            if not line:
                await proc.wait()
                raise AssertionError(f"forvarv {role} ended before serving: {p.log}")
            text = line.decode().rstrip("\n")
            p.out.append(text)
            if text.startswith("Förvärv Gateway"):
                p.banner = text
                break
    p._readers.append(asyncio.create_task(_pump(proc.stdout, p.out)))
    return p


@contextlib.asynccontextmanager
async def running(role: str, environ: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    p = await start(role, environ, *args)
    try:
        yield p
    finally:
        if p.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                p.proc.kill()
            await p.proc.wait()


async def wait_for(check, within: float = 60, every: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll the coroutine function `check` until it returns something true; that value."""
    async with asyncio.timeout(within):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(every)


async def processes(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(await conn.fetch("SELECT * FROM processes WHERE expires_at >= now() ORDER BY id"))


async def get_json(session: aiohttp.ClientSession, url: str, **kwargs: object) -> tuple[int, dict[str, object]]:
    async with session.get(url, **kwargs) as resp:  # type: ignore[arg-type]
        return resp.status, await resp.json(content_type=None)
