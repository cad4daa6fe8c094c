"""SRU over HTTP: ``GET /sru`` and ``POST /sru`` (form-encoded), all versions, all operations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web

from gateway.config import Settings
from gateway.http.appkeys import DATABASE_URL, POOL, SETTINGS
from gateway.search.repository import PostgresBackend, create_search_pool
from protocols.sru.explain import ServiceInfo
from protocols.sru.service import SRUService

PATH = "/sru"
SRU_SERVICE = web.AppKey("sru_service", SRUService)


def service_info(settings: Settings) -> ServiceInfo:
    """Explain's server description, from the public URL the gateway is reached at."""
    url = urlsplit(settings.public_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    base = url.path.rstrip("/")
    return ServiceInfo(
        host=url.hostname or settings.host,
        port=port,
        database=f"{base}{PATH}".lstrip("/"),
        contact=settings.admin_email,
        max_records=settings.sru_max_records,
    )


def make_service(settings: Settings, backend: PostgresBackend) -> SRUService:
    return SRUService(backend, service_info(settings))


async def _service(app: web.Application) -> AsyncIterator[None]:
    """Searches get a read-only pool of their own when the app knows its database URL (the
    gateway's does), else they share the app's pool."""
    settings = app[SETTINGS]
    url = app.get(DATABASE_URL)
    if url is None:
        app[SRU_SERVICE] = make_service(settings, PostgresBackend(app[POOL], settings.sru_timeout_ms))
        yield
        return
    pool = await create_search_pool(url, settings.sru_timeout_ms)
    app[SRU_SERVICE] = make_service(
        settings, PostgresBackend(pool, settings.sru_timeout_ms, server_timeout=True))
    try:
        yield
    finally:
        await pool.close()


async def handle(request: web.Request) -> web.Response:
    params: dict[str, list[str]] = {}
    for name, value in request.query.items():
        params.setdefault(name, []).append(value)
    if request.method == "POST":
        form = await request.post()
        for name, field in form.items():
            if isinstance(field, str):
                params.setdefault(name, []).append(field)
    body = await request.app[SRU_SERVICE].handle(params)
    return web.Response(body=body.encode("utf-8"), content_type="application/xml", charset="utf-8")


def setup(app: web.Application) -> None:
    """Add this feature's routes and background services to the app."""
    app.cleanup_ctx.append(_service)  # after the app's own database context: migrated
    app.router.add_get(PATH, handle)
    app.router.add_post(PATH, handle)
