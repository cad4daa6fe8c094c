"""SRU over HTTP: ``GET /sru`` and ``POST /sru`` (form-encoded), all versions, all operations; and
SRU 1.1/1.2 over SOAP (``POST /sru`` with a ``text/xml`` envelope, :mod:`protocols.sru.soap`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web

from gateway.config import Settings
from gateway.http.appkeys import DATABASE_URL, POOL, SETTINGS
from gateway.http.forms import read_form
from gateway.http.reads import REPLICAS
from gateway.ops import metrics
from gateway.search.cache import CachingBackend, Listener, ResultCache
from gateway.search.repository import PostgresBackend, create_search_pool
from gateway.store.replicas import CONNECT_TIMEOUT, Acquires, ReadPools
from protocols.sru import diagnostics as d
from protocols.sru import soap
from protocols.sru.explain import ServiceInfo
from protocols.sru.service import Memo, SearchBackend, SRUService

PATH = "/sru"
SRU_SERVICE = web.AppKey("sru_service", SRUService)
#: The result cache's listener (and through it the cache), when there is one.
SRU_CACHE = web.AppKey("sru_cache", Listener)


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


def make_service(settings: Settings, backend: SearchBackend, memo: Memo | None = None) -> SRUService:
    return SRUService(backend, service_info(settings), memo)


async def _service(app: web.Application) -> AsyncIterator[None]:
    """Searches get a read-only pool of their own when the app knows its database URL (the
    gateway's does), else they share the app's pool. With that URL, no read replicas and
    ``sru_cache_mb`` > 0, repeated searches are answered from the result cache
    (:mod:`gateway.search.cache`; a replica may not yet have replayed what a notification
    announced, so with replicas there is none)."""
    settings = app[SETTINGS]
    url = app.get(DATABASE_URL)
    if url is None:
        app[SRU_SERVICE] = make_service(settings, PostgresBackend(app[POOL], settings.sru_timeout_ms))
        yield
        return
    pool = await create_search_pool(url, settings.sru_timeout_ms)
    replicas = app.get(REPLICAS)
    reads: Acquires = pool
    if replicas is not None:  # searches on the read replicas, each with its own search pool
        reads = await replicas.pools(pool, lambda replica_url: create_search_pool(
            replica_url, settings.sru_timeout_ms, lazy=True, timeout=CONNECT_TIMEOUT))
    backend: SearchBackend = PostgresBackend(reads, settings.sru_timeout_ms, server_timeout=True)
    listening: asyncio.Task[None] | None = None
    memo: Memo | None = None
    if replicas is None and settings.sru_cache_mb > 0:
        cache = ResultCache(settings.sru_cache_mb * 1024 * 1024)
        listener = Listener(url, cache)
        app[SRU_CACHE] = listener
        listening = asyncio.create_task(listener.run(), name="sru-result-cache")
        metrics.watch_sru_cache(cache.status)
        backend, memo = CachingBackend(backend, cache), cache
    app[SRU_SERVICE] = make_service(settings, backend, memo)
    try:
        yield
    finally:
        if listening is not None:
            metrics.watch_sru_cache(None)
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
        if isinstance(reads, ReadPools):
            await reads.close()
        await pool.close()


#: POST bodies read as form parameters (as a GET's query string).
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


async def handle(request: web.Request) -> web.Response:
    service = request.app[SRU_SERVICE]
    params: dict[str, list[str]] = {}
    for name, value in request.query.items():
        params.setdefault(name, []).append(value)
    if request.method == "POST" and request.body_exists:
        if request.content_type in soap.CONTENT_TYPES:
            return await _soap(request, service)
        if request.content_type not in FORM_TYPES:
            refused = service.refuse(params, d.UnsupportedParameterValue(
                f"a POST body of type {request.content_type}: send form parameters"
                " (application/x-www-form-urlencoded) or a SOAP envelope (text/xml)"))
            return _xml(refused, status=415)
        for name, value in await read_form(request):
            params.setdefault(name, []).append(value)
    return _xml(await service.handle(params))


async def _soap(request: web.Request, service: SRUService) -> web.Response:
    """SRU 1.1/1.2 over SOAP (SRW): the envelope read up to its bound, the answer in an envelope."""
    too_large = soap.SoapFault("Client", f"the envelope is larger than {soap.MAX_ENVELOPE} bytes")
    if (request.content_length or 0) > soap.MAX_ENVELOPE:
        return _xml(soap.fault(too_large), status=413, content_type="text/xml")
    body = bytearray()
    async for chunk in request.content.iter_chunked(16384):
        body += chunk
        if len(body) > soap.MAX_ENVELOPE:
            return _xml(soap.fault(too_large), status=413, content_type="text/xml")
    try:
        call = soap.parse_envelope(bytes(body))
    except soap.SoapFault as e:
        return _xml(soap.fault(e), status=500, content_type="text/xml")
    document = await service.handle(call.params, soap=True)
    return _xml(soap.envelope(document), content_type="text/xml")


def _xml(document: str, *, status: int = 200, content_type: str = "application/xml") -> web.Response:
    return web.Response(status=status, body=document.encode("utf-8"), content_type=content_type,
                        charset="utf-8")


def setup(app: web.Application) -> None:
    """Add this feature's routes and background services to the app."""
    app.cleanup_ctx.append(_service)  # after the app's own database context: migrated
    app.router.add_get(PATH, handle)
    app.router.add_post(PATH, handle)
