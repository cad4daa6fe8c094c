"""Admin HTTP: GET /admin/notifications[?status=…&sigel=…&before=…&limit=…], GET
/admin/notifications/{id}, POST /admin/notifications/{id}/resend. Bearer token required."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.errors import Unauthorized
from gateway.http import auth
from gateway.http.appkeys import POOL, SETTINGS
from gateway.http.errors import Handler, error_response
from gateway.outbox import queue as outbox
from gateway.outbox.mail.render import MailContext, render


def require_admin(handler: Handler) -> Handler:
    """The admin API's own check and 401 answer (gateway.http.auth), also where these routes run
    without the /admin/ middleware of gateway.http.admin (inside `create_app` that one answers first)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            auth.require_admin(request)
        except Unauthorized as exc:
            return error_response(exc)
        return await handler(request)

    return guarded


def _int(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=f'{{"error": "{name} must be an integer"}}', content_type="application/json"
        ) from None


def _id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None


@require_admin
async def list_handler(request: web.Request) -> web.StreamResponse:
    statuses = [s for part in request.query.getall("status", []) for s in part.split(",") if s]
    try:
        outbox.check_statuses(statuses)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    limit = max(1, min(_int(request, "limit", 100) or 100, 1000))
    async with request.app[POOL].acquire() as conn:
        rows = await outbox.list_notifications(
            conn,
            statuses=statuses or None,
            sigel=request.query.get("sigel") or None,
            before_id=_int(request, "before"),
            limit=limit,
        )
    body: dict[str, Any] = {"notifications": [outbox.jsonable(r) for r in rows]}
    if len(rows) == limit:
        body["next"] = rows[-1]["id"]
    return web.json_response(body)


@require_admin
async def get_handler(request: web.Request) -> web.StreamResponse:
    nid = _id(request)
    async with request.app[POOL].acquire() as conn:
        row = await outbox.get(conn, nid)
        outgoing = await outbox.load_outgoing(conn, nid)
    if row is None or outgoing is None:
        raise web.HTTPNotFound()
    body = outbox.jsonable(row)
    body["message"] = render(outgoing, MailContext.from_settings(request.app[SETTINGS])).message.as_string()
    return web.json_response(body)


@require_admin
async def resend_handler(request: web.Request) -> web.StreamResponse:
    nid = _id(request)
    async with request.app[POOL].acquire() as conn:
        result = await outbox.resend(conn, nid)
        row = await outbox.get(conn, nid) if result is outbox.ResendResult.QUEUED else None
    if result is outbox.ResendResult.NOT_FOUND:
        raise web.HTTPNotFound()
    if result is outbox.ResendResult.IN_FLIGHT:
        return web.json_response({"error": "being sent right now; try again in a moment"}, status=409)
    assert row is not None
    row.pop("content", None)
    return web.json_response(outbox.jsonable(row), status=202)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/notifications", list_handler)
    app.router.add_get("/admin/notifications/{id:\\d+}", get_handler)
    app.router.add_post("/admin/notifications/{id:\\d+}/resend", resend_handler)
