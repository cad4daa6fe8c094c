"""HTTP adapter of the OAI-PMH endpoint: GET and POST /oai, streamed, gzip or deflate."""

from __future__ import annotations

import contextlib
import logging

from aiohttp import web

from gateway.http.appkeys import POOL, SETTINGS
from gateway.http.forms import FORM, read_form
from gateway.http.head import is_head
from gateway.oai.harvests import HarvestLog
from gateway.oai.repository import SqlRepository
from protocols.oai.server import Server, ServerConfig

log = logging.getLogger(__name__)

SERVER = web.AppKey("oai_server", Server)
HARVESTS = web.AppKey("oai_harvests", HarvestLog)
CONTENT_TYPE = "text/xml; charset=utf-8"


def choose_coding(accept_encoding: str) -> web.ContentCoding | None:
    """gzip or deflate if the client accepts it (q > 0), gzip preferred; else None (identity)."""
    best: tuple[float, int, web.ContentCoding] | None = None
    preference = {"gzip": (1, web.ContentCoding.gzip), "deflate": (0, web.ContentCoding.deflate)}
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip()
        if name not in preference:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        rank, coding = preference[name]
        if best is None or (q, rank) > best[:2]:
            best = (q, rank, coding)
    return None if best is None else best[2]


async def handle(request: web.Request) -> web.StreamResponse:
    if request.method == "POST":
        if request.content_type != FORM:
            raise web.HTTPUnsupportedMediaType(text=f"OAI-PMH requests are POSTed as {FORM}")
        pairs = await read_form(request)
    else:
        pairs = list(request.query.items())
    await request.app[HARVESTS].note(pairs)
    async with contextlib.aclosing(request.app[SERVER].respond(pairs)) as chunks:
        first = await anext(chunks)  # every OAI error is known before the first chunk
        response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE, "Vary": "Accept-Encoding"})
        coding = choose_coding(request.headers.get("Accept-Encoding", ""))
        if coding is not None and is_head(request):
            response.headers["Content-Encoding"] = coding.value  # a compressor would write its frame
        elif coding is not None:
            response.enable_compression(coding)
        await response.prepare(request)
        if is_head(request):  # the status and headers of the GET, which are known by now
            return response
        await response.write(first.encode("utf-8"))
        async for chunk in chunks:
            await response.write(chunk.encode("utf-8"))
    await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    """Route /oai (GET and POST); the server is built once the pool exists."""

    async def start(app: web.Application) -> None:
        settings = app[SETTINGS]
        if not settings.secret:
            raise RuntimeError("OAI-PMH resumption tokens need Settings.secret (see config.ensure_secret)")
        config = ServerConfig(
            base_url=settings.public_url.rstrip("/") + "/oai",
            repository_id=settings.repository_id,
            admin_email=settings.admin_email,
            page_size=settings.oai_page_size,
        )
        app[SERVER] = Server(SqlRepository(app[POOL]), config, settings.secret.encode("utf-8"))
        app[HARVESTS] = HarvestLog(app[POOL])

    app.on_startup.append(start)
    app.router.add_get("/oai", handle)
    app.router.add_post("/oai", handle)
