"""Feature module: the SFTP server inside `forvarv serve` (and any process that builds the app),
started when FORVARV_SFTP_PORT is set."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import asyncssh
from aiohttp import web

from gateway.http.appkeys import PARSE_PROCESS, POOL, SETTINGS
from gateway.registry import Supplier
from gateway.sftp import admin
from gateway.sftp.pickup import Pickup
from gateway.sftp.server import Context, fingerprint, host_key, listen
from gateway.store.queries import load

Q = load("sftp_service")

log = logging.getLogger(__name__)

SFTP_SERVER = web.AppKey("sftp_server", asyncssh.SSHAcceptor)
SFTP_CONTEXT = web.AppKey("sftp_context", Context)
_TREE = re.compile(r"supplier-(\d+)\Z")


def setup(app: web.Application) -> None:
    """Add the key routes of the admin API and, with FORVARV_SFTP_PORT set, run the server with the app."""
    admin.add_routes(app)
    if app[SETTINGS].sftp_port is not None:
        app.cleanup_ctx.append(_sftp)


def port(app: web.Application) -> int:
    """The port the SFTP server listens on (when configured as 0, the one the system chose)."""
    return int(app[SFTP_SERVER].sockets[0].getsockname()[1])


async def _resume(ctx: Context) -> None:
    """After a start: drop uploads never closed, take complete files still in incoming/."""
    base = ctx.data_dir / "sftp"
    if not base.is_dir():
        return
    ids = [int(m[1]) for p in base.iterdir() if (m := _TREE.match(p.name))]
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(Q["suppliers_by_id"], ids)
    for r in rows:
        tree = ctx.tree(Supplier(r["id"], r["code"], r["name"]))
        tree.clear_partials()
        ctx.pickup.scan(tree)


async def _sftp(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    ssh_log = logging.getLogger("asyncssh")
    if ssh_log.level == logging.NOTSET and not log.isEnabledFor(logging.DEBUG):
        ssh_log.setLevel(logging.WARNING)  # asyncssh tells every channel open and close at INFO
    key = await asyncio.to_thread(host_key, settings.data_dir)
    pickup = Pickup(app[POOL], max_body=settings.max_body, parse_process=lambda: app.get(PARSE_PROCESS))
    ctx = Context(app[POOL], settings.data_dir, settings.max_body, pickup)
    host = settings.sftp_host or settings.host
    assert settings.sftp_port is not None
    server = await listen(ctx, host, settings.sftp_port, key)
    app[SFTP_SERVER] = server
    app[SFTP_CONTEXT] = ctx
    bound = port(app)
    print(f"SFTP for suppliers on {host}:{bound}  (host key {fingerprint(key)}; "
          f"sftp -P {bound} SUPPLIER@{host})", flush=True)
    await _resume(ctx)
    yield
    server.close()
    await server.wait_closed()
    await pickup.close()
