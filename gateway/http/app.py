"""The aiohttp application: settings and the pool on AppKeys, one `setup` per feature."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from gateway.config import Settings
from gateway.http.appkeys import DATABASE_URL, POOL, SETTINGS
from gateway.http.errors import gateway_errors
from gateway.http.head import allow_head
from gateway.ops import access
from gateway.store import db, migrations

log = logging.getLogger(__name__)

#: Each feature module has `setup(app)`, which adds its routes and background services.
FEATURES = (
    "gateway.http.reads",  # first: the read replicas' pools, which the read features use
    "gateway.http.deliveries",
    "gateway.http.admin",
    "gateway.oai.http",
    "gateway.search.http",
    "gateway.outbox.service",
    "gateway.console.site",
    "gateway.sftp.service",
    "gateway.ops.http",
)


def base_app(settings: Settings, *, database_url: str, **kwargs: Any) -> web.Application:
    """An application with the settings and the pool (migrated at start), and no routes: what every
    process role starts from (gateway/ops/runner.py adds its heartbeat right after the pool)."""
    app = web.Application(**kwargs)
    app[SETTINGS] = settings
    app[DATABASE_URL] = database_url

    async def database(app: web.Application) -> AsyncIterator[None]:
        pool = await db.create_pool(database_url, min_size=2, max_size=max(10, 4 * settings.workers + 4))
        async with pool.acquire() as conn:
            await migrations.migrate(conn)
        app[POOL] = pool
        yield
        await pool.close()

    app.cleanup_ctx.append(database)
    return app


def create_app(settings: Settings, *, database_url: str, run_workers: bool = True) -> web.Application:
    # the access log is outermost: it sees every answer, the errors' too (gateway/ops/access.py)
    app = base_app(settings, database_url=database_url, client_max_size=settings.max_body,
                   middlewares=[access.middleware, gateway_errors])
    for name in FEATURES:
        module = importlib.import_module(name)
        if name == "gateway.outbox.service":
            module.setup(app, run_sender=run_workers)  # background services only where workers run
        else:
            module.setup(app)
    if run_workers:
        from gateway.intake import workers

        workers.setup(app)
    allow_head(app)
    return app
