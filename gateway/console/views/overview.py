"""Overview: today and the last 7 days at a glance, within the viewer's scope."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from gateway.console.sessions import SQL, Viewer
from gateway.console.web import LOCAL_TZ, page, reads, viewer
from gateway.ops import heartbeat

OUTCOMES = ("records", "created", "matched", "ambiguous", "rejected")


async def _period(conn: asyncpg.Connection, v: Viewer, since: datetime) -> dict[str, Any]:
    rows = await conn.fetch(SQL["overview_deliveries"], since, v.supplier_id, v.sigel)
    by_supplier: dict[str, dict[str, int]] = {}
    totals = dict.fromkeys(OUTCOMES, 0)
    for r in rows:
        by_supplier.setdefault(r["supplier"], {})[r["status"]] = int(r["n"])
        for key in OUTCOMES:
            totals[key] += int(r[key])
    out: dict[str, Any] = {"by_supplier": by_supplier, "totals": totals}
    if v.sigel is not None:
        out["holdings"] = dict(await conn.fetchrow(SQL["overview_holdings"], since, v.sigel))
    return out


async def overview(request: web.Request) -> web.Response:
    v = viewer(request)
    now = datetime.now(LOCAL_TZ)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    async with reads(request).acquire() as conn:
        periods = {"today": await _period(conn, v, midnight),
                   "last_7_days": await _period(conn, v, now - timedelta(days=7))}
        review_open = await conn.fetchval(SQL["overview_review_open"]) if v.is_admin else None
        mail = {r["status"]: int(r["n"]) for r in await conn.fetch(SQL["overview_mail"], v.sigel)} \
            if v.role != "supplier" else None
        oldest = await conn.fetchrow(SQL["overview_oldest_waiting"], v.supplier_id) if v.role != "library" else None
        harvests = await conn.fetch(SQL["overview_harvests"], v.sigel) if v.role != "supplier" else []
        # the live gateway processes (heartbeats, gateway/ops/heartbeat.py): operators only
        extra: dict[str, Any] = {"workers": await heartbeat.alive(conn)} if v.is_admin else {}
    return page(request, "overview.html", periods=periods, review_open=review_open, mail=mail, oldest=oldest,
                harvests=harvests, statuses=("received", "processing", "done", "failed"), **extra)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", overview)
    router.add_get("/console", overview)
