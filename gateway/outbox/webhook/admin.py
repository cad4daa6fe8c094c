"""Admin API for webhooks (the /admin/ middleware checks the admin token):

GET  /admin/webhooks[?state=failing]                      every library's, for the operator
GET  /admin/libraries/{sigel}/webhooks                    a library's
POST /admin/libraries/{sigel}/webhooks   {"url": …}       → 201 with the secret (shown once)
DELETE /admin/libraries/{sigel}/webhooks/{id}
POST /admin/libraries/{sigel}/webhooks/{id}/retry         queue its failed events again
"""

from __future__ import annotations

from aiohttp import web

from gateway.errors import Invalid, NotFound
from gateway.http.appkeys import POOL, SETTINGS
from gateway.outbox.webhook import registry as webhooks
from gateway.store import db

STATES = ("active", "failing")


def _id(request: web.Request) -> int:
    raw = request.match_info["id"]
    value = int(raw) if raw.isdigit() else 0
    if not db.is_row_id(value):
        raise NotFound(f"no webhook {raw}")
    return value


async def all_webhooks(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    if state is not None and state not in STATES:
        raise Invalid(f"state must be one of {', '.join(STATES)}", field="state")
    async with request.app[POOL].acquire() as conn:
        return web.json_response({"webhooks": await webhooks.list_webhooks(conn, None, state)})


async def library_webhooks(request: web.Request) -> web.Response:
    sigel = request.match_info["sigel"]
    async with request.app[POOL].acquire() as conn:
        if request.method == "GET":
            return web.json_response({"webhooks": await webhooks.list_webhooks(conn, sigel)})
        try:
            body = await request.json()
        except ValueError:
            raise Invalid("the body must be a JSON object with url") from None
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object with url")
        added = await webhooks.add(conn, sigel, body.get("url"),
                                   allow_private=request.app[SETTINGS].webhook_allow_private)
    return web.json_response(added, status=201)


async def library_webhook(request: web.Request) -> web.Response:
    sigel, webhook_id = request.match_info["sigel"], _id(request)
    async with request.app[POOL].acquire() as conn:
        await webhooks.remove(conn, sigel, webhook_id)
    return web.json_response({"removed": webhook_id})


async def retry(request: web.Request) -> web.Response:
    sigel, webhook_id = request.match_info["sigel"], _id(request)
    async with request.app[POOL].acquire() as conn:
        count = await webhooks.retry(conn, sigel, webhook_id)
    return web.json_response({"webhook": webhook_id, "queued": count})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_route("GET", "/admin/webhooks", all_webhooks)
    r.add_route("GET", "/admin/libraries/{sigel}/webhooks", library_webhooks)
    r.add_route("POST", "/admin/libraries/{sigel}/webhooks", library_webhooks)
    r.add_route("DELETE", "/admin/libraries/{sigel}/webhooks/{id}", library_webhook)
    r.add_route("POST", "/admin/libraries/{sigel}/webhooks/{id}/retry", retry)
