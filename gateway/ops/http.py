"""Feature module: /health, /ready and /metrics, the access log and X-Request-Id, on every process
that serves HTTP."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from gateway.http.appkeys import POOL, SETTINGS
from gateway.http.auth import bearer
from gateway.ops import access, health, metrics
from gateway.ops.heartbeat import HEARTBEAT, ROLE


async def get_metrics(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    tokens = [t for t in (settings.metrics_token, settings.admin_token) if t]
    why = metrics.allowed(request.remote, bearer(request), tokens, token_required=bool(settings.metrics_token))
    if why is not None:
        access.refused(request, why)
        status = 401 if settings.metrics_token else 403
        return web.json_response({"error": "forbidden" if status == 403 else "unauthorized", "message": why},
                                 status=status)
    own = {"process": "this", "role": request.app.get(ROLE, "app")}
    try:
        body = await metrics.scrape(request.app[POOL], own, request.app.get(HEARTBEAT))
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        access.refused(request, f"the database did not answer: {type(exc).__name__}")
        return web.json_response({"error": "unavailable", "message": "the database did not answer"}, status=503)
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE, "Cache-Control": "no-store"})


async def _watch_pool(app: web.Application) -> None:
    metrics.watch_pool(app[POOL])


def setup(app: web.Application) -> None:
    health.add_routes(app)
    app.router.add_get("/metrics", get_metrics)
    app.on_response_prepare.append(access.echo_request_id)
    app.on_startup.append(_watch_pool)
