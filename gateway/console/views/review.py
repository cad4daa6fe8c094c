"""The review queue (admin): ambiguous matches, each with the incoming record (read back from its
delivery's payload) and every candidate side by side, differences marked."""

from __future__ import annotations

from aiohttp import web

from gateway.console import marc_view
from gateway.console.sessions import SQL
from gateway.console.web import page, require_admin
from gateway.errors import NotFound
from gateway.http.appkeys import POOL
from gateway.intake import review
from gateway.store import db


async def listing(request: web.Request) -> web.Response:
    require_admin(request)
    include_resolved = request.query.get("all") == "1"
    async with request.app[POOL].acquire() as conn:
        items = await review.list_items(conn, include_resolved=include_resolved)
    return page(request, "review.html", items=items, include_resolved=include_resolved)


async def detail(request: web.Request) -> web.Response:
    require_admin(request)
    try:
        item_id = int(request.match_info["id"])
    except ValueError:
        raise NotFound("no such review item") from None
    if not db.is_row_id(item_id):
        raise NotFound("no such review item")
    async with request.app[POOL].acquire() as conn:
        items = [i for i in await review.list_items(conn, include_resolved=True) if i["id"] == item_id]
        if not items:
            raise NotFound(f"no review item {item_id}")
        item = items[0]
        incoming = await marc_view.incoming(conn, int(item["delivery_id"]), item["position"])
        candidates = []
        for cid in item["candidates"]:
            rec = await conn.fetchrow(SQL["record_get"], int(cid))
            if rec is not None:
                candidates.append({"rec": rec, "marc": marc_view.parse(rec["marcxml"])})
    marc_view.mark_differences([incoming, *(c["marc"] for c in candidates)])
    return page(request, "review_item.html", item=item, incoming=incoming, candidates=candidates)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/console/review", listing)
    router.add_get("/console/review/{id}", detail)
