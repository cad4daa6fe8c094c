"""Supplier API: POST /deliveries, GET /deliveries, GET /deliveries/{id}."""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.errors import Invalid, NotFound
from gateway.http.appkeys import DATABASE_URL, FINISHED, PARSE_PROCESS, POOL, SETTINGS
from gateway.http.auth import require_supplier, supplier_or_admin
from gateway.http.head import is_head
from gateway.intake import finished, report
from gateway.intake import receive as intake
from gateway.store import db
from gateway.store.queries import load

Q = load("deliveries")

MAX_WAIT = 600.0
#: A waiting request is woken by the delivery's finish (gateway.intake.finished) and looks anyway this often.
RECHECK_SECONDS = 2.0
#: Content codings aiohttp decodes for us (with bounded chunks); any other is passed through
#: undecoded, so it must be refused rather than parsed as if it were the payload.
CONTENT_CODINGS = frozenset({"", "identity", "gzip", "deflate"})


def _wait_seconds(request: web.Request) -> float:
    raw = request.query.get("wait")
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise Invalid("wait must be a number of seconds") from None
    if not 0 <= value <= MAX_WAIT:
        raise Invalid(f"wait must be between 0 and {MAX_WAIT:.0f} seconds")
    return value


def _check_content_coding(request: web.Request) -> None:
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    if coding not in CONTENT_CODINGS:
        raise intake.UnsupportedMediaType(
            f"unsupported content encoding {coding!r}: send the body as is, or with gzip or deflate"
        )


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.content.iter_chunked(256 * 1024):
            yield chunk
    except web.RequestPayloadError as exc:  # aiohttp could not decode the body (corrupt gzip ...)
        coding = request.headers.get("Content-Encoding", "").strip().lower()
        what = f"the {coding} content encoding is corrupt" if coding else "the body could not be read"
        cause = exc.__cause__
        inner = cause.__context__ if cause is not None else None  # zlib's own complaint, if any
        detail = str(inner) if isinstance(inner, zlib.error) else ""
        raise intake.BadPayload(f"{what}: {detail}" if detail else what) from None


async def _report_response(request: web.Request, delivery_id: int, supplier_id: int | None,
                           headers: dict[str, str] | None = None,
                           extra: dict[str, object] | None = None) -> web.StreamResponse:
    """The report, streamed: headers go out only once the delivery is known to exist here."""
    async with request.app[POOL].acquire() as conn:
        await report.delivery_header(conn, delivery_id, supplier_id)  # 404 before anything is sent
        response = web.StreamResponse(status=200, headers=headers)
        response.content_type = "application/json"
        response.charset = "utf-8"
        await response.prepare(request)
        if is_head(request):
            return response
        await report.stream_json(conn, delivery_id, supplier_id, response.write, extra)
    await response.write_eof()
    return response


async def post_delivery(request: web.Request) -> web.StreamResponse:
    supplier = await require_supplier(request)
    settings = request.app[SETTINGS]
    wait = _wait_seconds(request)
    _check_content_coding(request)
    declared = request.content_length
    if declared is not None and declared > settings.max_body:
        raise intake.PayloadTooLarge(f"the body exceeds the limit of {settings.max_body} bytes")
    # aiohttp decodes Content-Encoding: gzip/deflate itself (with bounded chunks), so the body
    # arrives decoded; the intake still counts every decoded byte against the limit.
    received = await intake.receive(
        request.app[POOL],
        supplier,
        _body(request),
        content_type=request.headers.get("Content-Type", ""),
        charset=request.charset,
        idempotency_key=request.headers.get("Idempotency-Key"),
        max_body=settings.max_body,
        parse_process=request.app.get(PARSE_PROCESS),
    )
    location = f"/deliveries/{received.id}"
    # The idempotency key (given, or the body's SHA-256) named an earlier delivery: this answer is
    # that delivery's, whatever changed since (e.g. the registry); a new key makes a new delivery.
    replayed = not received.created
    headers = {"Location": location, **({"Idempotency-Replayed": "true"} if replayed else {})}
    if wait > 0:
        deadline = time.monotonic() + wait
        with request.app[FINISHED].watching(received.id) as notified:
            # One look decides the answer, after every wake-up and once more when time is up: a
            # delivery finished by then is answered with its report, never with a short "done".
            while True:
                notified.clear()
                async with request.app[POOL].acquire() as conn:
                    status = await conn.fetchval(Q["delivery_status"], received.id)
                if status in ("done", "failed"):
                    return await _report_response(request, received.id, supplier.id, headers,
                                                  {"replayed": replayed})
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(notified.wait(), min(RECHECK_SECONDS, remaining))
        received = intake.Received(received.id, status, received.created)
    return web.json_response(
        {"id": str(received.id), "status": received.status, "href": location, "replayed": replayed},
        status=202 if received.created else 200,
        headers=headers,
    )


async def get_delivery(request: web.Request) -> web.StreamResponse:
    supplier = await supplier_or_admin(request)
    try:
        delivery_id = int(request.match_info["id"])
    except ValueError:
        raise NotFound("no such delivery") from None
    if not db.is_row_id(delivery_id):
        raise NotFound(f"no delivery {delivery_id}")
    return await _report_response(request, delivery_id, supplier.id if supplier else None)


async def list_deliveries(request: web.Request) -> web.Response:
    supplier = await supplier_or_admin(request)
    try:
        limit = min(int(request.query.get("limit", "100")), 1000)
        before = int(request.query["before"]) if "before" in request.query else None
    except ValueError:
        raise Invalid("limit and before must be integers") from None
    if limit < 1:
        raise Invalid("limit must be at least 1")
    if before is not None and not 0 <= before <= db.MAX_ID:
        raise Invalid(f"before must be between 0 and {db.MAX_ID}")
    async with request.app[POOL].acquire() as conn:
        items = await report.listing(conn, supplier.id if supplier else None, limit, before)
    body: dict[str, object] = {"deliveries": items}
    if len(items) == limit:
        body["next"] = f"/deliveries?limit={limit}&before={items[-1]['id']}"
    return web.json_response(body)


def setup(app: web.Application) -> None:
    async def watch(app: web.Application) -> AsyncIterator[None]:
        app[FINISHED] = watcher = finished.Watch()
        await watcher.start(app[DATABASE_URL])
        yield
        await watcher.stop()

    app.cleanup_ctx.append(watch)
    app.router.add_post("/deliveries", post_delivery)
    app.router.add_get("/deliveries", list_deliveries)
    app.router.add_get("/deliveries/{id}", get_delivery)
