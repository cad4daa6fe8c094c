"""`forvarv serve`: the HTTP gateway with its workers, on the embedded database by default."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import secrets
import signal

from aiohttp import web

from gateway.config import Settings, ensure_secret
from gateway.http import server
from gateway.http.app import create_app
from gateway.http.appkeys import PARSE_PROCESS
from gateway.store import db

log = logging.getLogger(__name__)

#: Cyclic GC thresholds while serving. The intake allocates hundreds of small objects per record
#: (records, fields, tuples) and almost none of them form cycles; at CPython's default (700) the
#: collector runs every few records. Reference counting still frees everything at once.
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Move what startup allocated (modules, app, settings) out of the collector's way, then
    collect young objects less often. For long-running processes only, not for library code."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _start_parse_process(app: web.Application) -> None:
    """Start the workers' second process now, not on the first large delivery (~0.5 s of CPU)."""
    process = app.get(PARSE_PROCESS)
    if process is not None:
        await process.start()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    changes: dict[str, object] = {}
    if args.host:
        changes["host"] = args.host
    if args.port:
        changes["port"] = args.port
    if args.workers is not None:
        changes["workers"] = args.workers
    settings = settings.with_(**changes)
    if (args.host or args.port) and not os.environ.get("FORVARV_PUBLIC_URL"):
        # the public URL follows the listen address unless it was configured (e.g. behind a proxy)
        settings = settings.with_(public_url=f"http://{settings.host}:{settings.port}")
    if args.demo and not settings.admin_token:
        settings = settings.with_(admin_token=secrets.token_urlsafe(24))
        print(f"demo admin token (this run only): {settings.admin_token}")
    if args.demo and settings.sftp_port is None:
        from gateway.sftp.demo import DEMO_PORT

        settings = settings.with_(sftp_port=DEMO_PORT)  # the demo shows SFTP delivery too
    settings = ensure_secret(settings)
    url = db.resolve_url(settings)
    if args.demo:
        from gateway.demo import seed as demo

        asyncio.run(demo.seed(url, settings))
    app = create_app(settings, database_url=url, run_workers=settings.workers > 0)
    app.on_startup.append(_start_parse_process)
    tune_gc()
    asyncio.run(_serve(app, settings))
    return 0


async def _serve(app: web.Application, settings: Settings) -> None:
    """Listen until SIGINT or SIGTERM (even one that comes while starting), then shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = await server.start(app, settings.host, settings.port)
    print(f"Förvärv Gateway on {settings.public_url}  (staff console {settings.public_url}/, "
          f"OAI-PMH {settings.public_url}/oai, "
          f"SRU {settings.public_url}/sru, deliveries {settings.public_url}/deliveries)", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the gateway (HTTP API, OAI-PMH, SRU, workers, mail sender)")
    p.add_argument("--host", help="listen address; FORVARV_HOST (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port; FORVARV_PORT (default 8080)")
    p.add_argument("--workers", type=int, help="delivery workers in this process; FORVARV_WORKERS (default 1)")
    p.add_argument("--demo", action="store_true",
                   help="load demo suppliers, libraries and a delivery (idempotent) before serving")
    p.set_defaults(func=cmd_serve, standalone=True)
