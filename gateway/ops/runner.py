"""The process roles: `forvarv serve` (everything in one process), `web`, `worker` and `mailer`.

Each role is the same application with less in it: `web` answers HTTP (supplier API, admin API,
OAI-PMH, SRU, console, health and metrics) and loads nothing; `worker` loads received deliveries
and has no HTTP; `mailer` sends the outbox (e-mail and webhooks) and has no HTTP. Any number of
each may run on any machine that reaches the database: the queue (deliveries, notifications,
webhook events) is in PostgreSQL and every claim is `FOR UPDATE SKIP LOCKED` with a lock or a
lease, so processes share nothing else. Every process beats its row in `processes`
(gateway/ops/heartbeat.py).

Stopping (SIGTERM or SIGINT): the process stops taking work at once (app[STOP]: no new
deliveries or messages are claimed; its heartbeat says `stopping`); a web process stops listening
and gives the requests in flight up to `stop_timeout` seconds; a worker commits the batch it is
writing and hands its delivery back (the next worker resumes it after that batch), within
`stop_timeout`, else the batch is rolled back and resumed the same way; a sender finishes the
message it is sending, within `stop_timeout`, else its lease runs out and another sender sends
it (at least once). Then the pool is closed and the process exits 0. Whatever happens, it exits
within `bound(role, stop_timeout)` seconds (status 1 if that hard bound was needed).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.config import Settings, ensure_secret
from gateway.http import server
from gateway.http.app import base_app, create_app
from gateway.http.appkeys import PARSE_PROCESS, POOL, SETTINGS, STOP
from gateway.intake.parse_process import ParseProcess
from gateway.ops import loop, metrics
from gateway.ops.heartbeat import HEARTBEAT, ROLE, ROLE_DUTIES, Heartbeat
from gateway.store import db

log = logging.getLogger(__name__)

DUTIES = web.AppKey("duties", tuple)
#: Seconds allowed beyond the phases' own bounds (closing the pool, the second process).
SLACK = 5.0


def bound(role: str, stop_timeout: float) -> float:
    """The longest a process of `role` takes to exit after SIGTERM: the in-flight requests' phase
    and the background work's phase each get stop_timeout (only `serve` has both)."""
    phases = 2 if role == "serve" else 1
    return phases * stop_timeout + SLACK


def duties(role: str, settings: Settings) -> tuple[str, ...]:
    if role == "serve" and settings.workers <= 0:
        return ("http",)
    return ROLE_DUTIES[role]


def build_app(role: str, settings: Settings, database_url: str) -> web.Application:
    """The application of one role (not started)."""
    what = duties(role, settings)
    if "http" in what:
        app = create_app(settings, database_url=database_url, run_workers="load" in what)
        if role == "web" and settings.parse_process:
            _scan_process(app)  # received MARCXML bodies are scanned there, as in `serve`
    else:
        app = base_app(settings, database_url=database_url)
        if role == "worker":
            from gateway.intake import workers

            workers.setup(app)
        else:
            from gateway.outbox import service as outbox

            outbox.setup(app, run_sender=True)
    app[ROLE] = role
    app[DUTIES] = what
    app[STOP] = asyncio.Event()
    app.cleanup_ctx.insert(1, _heartbeat)  # right after the pool: it beats until the work has stopped
    app.on_startup.append(_start_parse_process)
    return app


def _scan_process(app: web.Application) -> None:
    async def scan_process(app: web.Application) -> AsyncIterator[None]:
        process = app[PARSE_PROCESS] = ParseProcess()
        yield
        await asyncio.get_running_loop().run_in_executor(None, process.shutdown)

    app.cleanup_ctx.append(scan_process)


async def _heartbeat(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    listen = f"{settings.host}:{settings.port}" if "http" in app[DUTIES] else None
    metrics.watch_pool(app[POOL])
    beat = Heartbeat(app[POOL], app[ROLE], app[DUTIES], interval=settings.heartbeat_seconds, listen=listen,
                     snapshot=metrics.snapshot)
    await beat.start()
    app[HEARTBEAT] = beat
    yield
    await beat.stop()


async def _start_parse_process(app: web.Application) -> None:
    """Start the second process now, not on the first large delivery (~0.5 s of CPU)."""
    process = app.get(PARSE_PROCESS)
    if process is not None:
        await process.start()


def _banner(app: web.Application, settings: Settings) -> str:
    role = app[ROLE]
    url = settings.public_url
    if "http" in app[DUTIES]:
        line = (f"Förvärv Gateway on {url}  (staff console {url}/, OAI-PMH {url}/oai, SRU {url}/sru, "
                f"deliveries {url}/deliveries)")
        return line if role == "serve" else f"{line}  [{role}, pid {os.getpid()}]"
    if role == "worker":
        return f"Förvärv Gateway worker: {settings.workers} delivery worker(s)  [pid {os.getpid()}]"
    mail = f"SMTP {settings.smtp.host}" if settings.smtp.host else f"spool {settings.data_dir / 'outbox'}"
    return f"Förvärv Gateway mailer: e-mail ({mail}) and webhooks  [pid {os.getpid()}]"


async def serve_app(app: web.Application, settings: Settings) -> int:
    """Run until SIGINT or SIGTERM (even one that comes while starting), then stop as above."""
    role = app[ROLE]
    signalled = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        running.add_signal_handler(signum, signalled.set)
    runner: web.AppRunner
    if "http" in app[DUTIES]:
        runner = await server.start(app, settings.host, settings.port, shutdown_timeout=settings.stop_timeout)
    else:
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
    print(_banner(app, settings), flush=True)
    log.info("%s running on %s's event loop", role, loop.name(running))
    await signalled.wait()
    log.info("stopping (%s): no new work; up to %.0f s for what is in flight", role, settings.stop_timeout)
    app[STOP].set()
    beat = app.get(HEARTBEAT)
    if beat is not None:
        await beat.mark_stopping()
    limit = bound(role, settings.stop_timeout)
    try:
        await asyncio.wait_for(runner.cleanup(), limit)
    except TimeoutError:
        log.error("not stopped within %.0f s; exiting anyway (work left is resumed by other processes)", limit)
        return 1
    log.info("stopped")
    return 0


def run_role(role: str, settings: Settings) -> int:
    """Start a process of `role` on the configured database and serve until stopped."""
    from gateway.serve import tune_gc

    if "http" in ROLE_DUTIES[role]:
        settings = ensure_secret(settings)
    url = db.resolve_url(settings)
    app = build_app(role, settings, url)
    tune_gc()
    return loop.run(serve_app(app, settings), settings.event_loop)


# --- the command line ---------------------------------------------------------------------------
def listen_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with the --host and --port flags of `serve` or `web` applied."""
    changes: dict[str, object] = {}
    if args.host:
        changes["host"] = args.host
    if args.port:
        changes["port"] = args.port
    settings = settings.with_(**changes)
    if (args.host or args.port) and not os.environ.get("FORVARV_PUBLIC_URL"):
        # the public URL follows the listen address unless it was configured (e.g. behind a proxy)
        settings = settings.with_(public_url=f"http://{settings.host}:{settings.port}")
    return settings


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    return run_role("web", listen_settings(args, settings))


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers is not None:
        settings = settings.with_(workers=args.workers)
    if settings.workers < 1:
        print("error: a worker process needs --workers 1 or more")
        return 2
    return run_role("worker", settings)


def cmd_mailer(args: argparse.Namespace, settings: Settings) -> int:
    return run_role("mailer", settings)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("web", help="run the HTTP role only (API, OAI-PMH, SRU, console); loads and sends nothing")
    p.add_argument("--host", help="listen address; FORVARV_HOST (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port; FORVARV_PORT (default 8080)")
    p.set_defaults(func=cmd_web, standalone=True)
    p = sub.add_parser("worker", help="run the delivery-loading role only (no HTTP)")
    p.add_argument("--workers", type=int, help="delivery workers in this process; FORVARV_WORKERS (default 1)")
    p.set_defaults(func=cmd_worker, standalone=True)
    p = sub.add_parser("mailer", help="run the outbox role only: e-mail and webhooks (no HTTP)")
    p.set_defaults(func=cmd_mailer, standalone=True)
