"""The review queue (admin): ambiguous matches, each with the incoming record (read back from its
delivery's payload by gateway.intake.review) and every candidate side by side, differences marked,
and the actions that settle it (keep, merge, separate, dismiss: gateway.intake.review.resolve, the
same as POST /admin/review/{id}/resolve)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.console import marc_view
from gateway.console.sessions import SQL
from gateway.console.web import page, redirect, require_admin
from gateway.errors import GatewayError, Invalid, NotFound
from gateway.http.appkeys import POOL, SETTINGS
from gateway.intake import review
from gateway.store import db

ACTOR = "admin (console)"


def _item_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["id"])
    except ValueError:
        raise NotFound("no such review item") from None
    if not db.is_row_id(value):
        raise NotFound("no such review item")
    return value


async def listing(request: web.Request) -> web.Response:
    require_admin(request)
    include_resolved = request.query.get("all") == "1"
    async with request.app[POOL].acquire() as conn:
        items = await review.list_items(conn, include_resolved=include_resolved)
    return page(request, "review.html", items=items, include_resolved=include_resolved)


async def detail(request: web.Request, *, error: GatewayError | None = None) -> web.Response:
    require_admin(request)
    item_id = _item_id(request)
    async with request.app[POOL].acquire() as conn:
        item = await review.get_item(conn, item_id, org_code=request.app[SETTINGS].org_code)
        candidates: list[dict[str, Any]] = []
        for c in item["candidate_records"]:
            rec = await conn.fetchrow(SQL["record_get"], int(c["record_id"]))
            candidates.append({**c, "marc": marc_view.parse(rec["marcxml"]) if rec else None})
    incoming = marc_view.parse(item["incoming"]["marcxml"]) if item.get("incoming") else None
    marc_view.mark_differences([incoming, *(c["marc"] for c in candidates)])
    return page(request, "review_item.html", item=item, incoming=incoming, candidates=candidates,
                any_protected=any(c["protected"] for c in candidates), error=error.message if error else None,
                http_status=error.status if error else 200)


async def resolve(request: web.Request) -> web.Response:
    """One button per choice: `choice` is keep:ID, merge:ID, separate or dismiss."""
    require_admin(request)
    item_id = _item_id(request)
    form = await request.post()
    action, _, record = str(form.get("choice", "")).partition(":")
    by = str(form.get("by", "")).strip()
    try:
        if len(by) > 100 or "\x00" in by:
            raise Invalid("by must be a name of at most 100 characters", field="by")
        async with request.app[POOL].acquire() as conn:
            await review.resolve(conn, item_id, action, record_id=record or None,
                                 actor=f"admin ({by})" if by else ACTOR,
                                 override_protected=form.get("override_protected") == "on",
                                 org_code=request.app[SETTINGS].org_code)
    except GatewayError as exc:  # a refused action (protected record, already resolved, ...): said on the page
        return await detail(request, error=exc)  # (no such item: detail's own 404)
    return redirect(f"/console/review/{item_id}")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/console/review", listing)
    router.add_get("/console/review/{id}", detail)
    router.add_post("/console/review/{id}/resolve", resolve)
