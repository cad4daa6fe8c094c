"""HTTP adapter of the OAI-PMH endpoint: GET and POST /oai, streamed, gzip or deflate."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator

import asyncpg
from aiohttp import web

from gateway.http.appkeys import POOL, SETTINGS
from gateway.http.forms import FORM, read_form
from gateway.http.head import is_head
from gateway.http.reads import REPLICAS
from gateway.oai.harvests import HarvestLog
from gateway.oai.repository import ReplicaBehind, ReplicaRepository, SqlRepository
from gateway.store.replicas import DOWN_ERRORS
from protocols.oai.server import Server, ServerConfig

log = logging.getLogger(__name__)

SERVER = web.AppKey("oai_server", Server)
HARVESTS = web.AppKey("oai_harvests", HarvestLog)
CONTENT_TYPE = "text/xml; charset=utf-8"
#: What a replica's failure before the first chunk raises: down, gone, or a query cancelled by a
#: conflict with replay (hot standby); the request is then answered by the next target.
REPLICA_ERRORS = (*DOWN_ERRORS, asyncpg.TransactionRollbackError, asyncpg.QueryCanceledError)


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
    chunks, first = await _open(request.app, pairs)  # every OAI error is known before the first chunk
    async with contextlib.aclosing(chunks):
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


async def _open(app: web.Application, pairs: list[tuple[str, str]]) -> tuple[AsyncGenerator[str, None], str]:
    """The response's chunks and its first one, from a read replica when one can answer.

    A replica answers if it is usable and, for a resumed list, has replayed the list's bound
    (else ReplicaBehind); one that fails before the first chunk is marked down. Either way the
    next target is tried, the primary last: it has everything every token was made from."""
    server = app[SERVER]
    replicas = app.get(REPLICAS)
    if replicas is None:
        chunks = server.respond(pairs)
        return chunks, await _first(chunks)
    bound = server.list_bound(pairs)
    for target in replicas.targets():
        if target is None:
            chunks = server.respond(pairs)
            first = await _first(chunks)
        else:
            assert target.pool is not None
            chunks = server.using(ReplicaRepository(target.pool, bound)).respond(pairs)
            try:
                first = await _first(chunks)
            except ReplicaBehind:
                continue
            except REPLICA_ERRORS as exc:
                replicas.mark_down(target, exc)
                continue
        replicas.served(target)
        return chunks, first
    raise AssertionError("the primary is always a target")


async def _first(chunks: AsyncGenerator[str, None]) -> str:
    try:
        return await anext(chunks)
    except BaseException:
        await chunks.aclose()
        raise


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
