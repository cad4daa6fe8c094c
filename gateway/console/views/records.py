"""A bibliographic record: its MARC, holdings per library (tombstones marked), identifiers,
provenance (gateway.intake.provenance: deliveries and review actions), protect / unprotect, and
links to OAI-PMH GetRecord and an SRU rec.id search."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from gateway.console import marc_view
from gateway.console.sessions import SQL
from gateway.console.web import page, reads, redirect, require_admin, viewer
from gateway.errors import NotFound
from gateway.http.appkeys import POOL, SETTINGS
from gateway.intake import protection
from gateway.intake.provenance import record_provenance
from gateway.store import db
from protocols.oai import identifiers
from protocols.oai.repository import BIB


def record_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["id"])
    except ValueError:
        raise NotFound("no such record") from None
    if not db.is_row_id(value):
        raise NotFound("no such record")
    return value


def oai_url(repository_id: str, rid: int) -> str:
    identifier = quote(identifiers.make(repository_id, BIB, rid), safe=":/")
    return f"/oai?verb=GetRecord&metadataPrefix=marc21&identifier={identifier}"


async def detail(request: web.Request) -> web.Response:
    v = viewer(request)
    rid = record_id(request)
    async with reads(request).acquire() as conn:
        if not await conn.fetchval(SQL["record_visible"], rid, v.supplier_id, v.sigel):
            raise NotFound(f"no record {rid}")
        rec = await conn.fetchrow(SQL["record_get"], rid)
        identifiers = await conn.fetch(SQL["record_identifiers"], rid)
        holdings = [dict(h) for h in await conn.fetch(SQL["record_holdings"], rid, v.supplier_id, v.sigel)]
        provenance = await record_provenance(conn, rid)
    if v.supplier_code is not None:  # a supplier sees its own deliveries of the record, not the others'
        provenance = [p for p in provenance if p["kind"] != "delivery" or p["supplier"] == v.supplier_code]
    for h in holdings:
        h["shown"] = marc_view.parse(h["marcxml"])
    return page(request, "record.html", rec=rec, marc=marc_view.parse(rec["marcxml"]), identifiers=identifiers,
                holdings=holdings, provenance=provenance,
                oai=oai_url(request.app[SETTINGS].repository_id, rid), sru=f"/sru?query=rec.id%3D{rid}")


async def protect(request: web.Request) -> web.Response:
    require_admin(request)
    rid = record_id(request)
    async with request.app[POOL].acquire() as conn:
        await protection.set_protected(conn, rid, request.match_info["action"] == "protect")
    return redirect(f"/console/records/{rid}")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/console/records/{id}", detail)
    router.add_post("/console/records/{id}/{action:protect|unprotect}", protect)
