"""`forvarv serve`: the HTTP gateway with its workers, on the embedded database by default."""

from __future__ import annotations

import argparse
import gc
import logging
import secrets

from gateway.config import Settings, ensure_secret
from gateway.ops import loop
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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.ops import runner

    settings = runner.listen_settings(args, settings)
    if args.workers is not None:
        settings = settings.with_(workers=args.workers)
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

        loop.run(demo.seed(url, settings), settings.event_loop)
    app = runner.build_app("serve", settings, url)
    tune_gc()
    return loop.run(runner.serve_app(app, settings), settings.event_loop)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the gateway (HTTP API, OAI-PMH, SRU, workers, mail sender)")
    p.add_argument("--host", help="listen address; FORVARV_HOST (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port; FORVARV_PORT (default 8080)")
    p.add_argument("--workers", type=int, help="delivery workers in this process; FORVARV_WORKERS (default 1)")
    p.add_argument("--demo", action="store_true",
                   help="load demo suppliers, libraries and a delivery (idempotent) before serving")
    p.set_defaults(func=cmd_serve, standalone=True)
