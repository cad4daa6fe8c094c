"""A library's webhooks in the console (admin only): list with state and backlog, add (the signing
secret shown once), remove, queue failed events again; and the operator's list of failing webhooks.
Every change goes through gateway.outbox.webhook.registry, as the CLI and the admin API do, so URLs
are checked and refused with the same messages."""

from __future__ import annotations

from aiohttp import web

from gateway.console.views.registry import ROOT, library_page
from gateway.console.web import page, redirect, require_admin
from gateway.errors import GatewayError, Invalid
from gateway.http.appkeys import POOL, SETTINGS
from gateway.outbox.webhook import registry as webhooks


def _webhook_id(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise Invalid("webhook_id must be an integer", field="webhook_id") from None


async def add(request: web.Request) -> web.Response:
    require_admin(request)
    form = await request.post()
    url = form.get("url", "")
    try:
        async with request.app[POOL].acquire() as conn:
            added = await webhooks.add(conn, request.match_info["sigel"], url.strip() if isinstance(url, str) else "",
                                       allow_private=request.app[SETTINGS].webhook_allow_private)
    except GatewayError as exc:
        return await library_page(request, error=exc)
    return await library_page(request, webhook_secret=added["secret"], webhook_id=added["id"])


async def remove(request: web.Request) -> web.Response:
    require_admin(request)
    sigel = request.match_info["sigel"]
    async with request.app[POOL].acquire() as conn:
        await webhooks.remove(conn, sigel, _webhook_id(request.match_info["webhook_id"]))
    return redirect(f"{ROOT}/libraries/{sigel}")


async def retry(request: web.Request) -> web.Response:
    require_admin(request)
    sigel = request.match_info["sigel"]
    async with request.app[POOL].acquire() as conn:
        await webhooks.retry(conn, sigel, _webhook_id(request.match_info["webhook_id"]))
    return redirect(f"{ROOT}/libraries/{sigel}")


async def failing(request: web.Request) -> web.Response:
    require_admin(request)
    async with request.app[POOL].acquire() as conn:
        rows = await webhooks.list_webhooks(conn, state="failing")
    return page(request, "webhooks_failing.html", webhooks=rows)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(f"{ROOT}/webhooks/failing", failing)
    router.add_post(f"{ROOT}/libraries/{{sigel}}/webhooks", add)
    router.add_post(f"{ROOT}/libraries/{{sigel}}/webhooks/{{webhook_id}}/remove", remove)
    router.add_post(f"{ROOT}/libraries/{{sigel}}/webhooks/{{webhook_id}}/retry", retry)
