"""Deliveries: the list (filters), a delivery's page (progress, summary, records, problems in plain
words), its progress as JSON for the page's script, and downloads of the payload and the report."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from gateway import problem_texts, registry
from gateway.console import i18n
from gateway.console.sessions import SQL, Viewer
from gateway.console.web import LANG, LOCAL_TZ, page, reads, viewer
from gateway.errors import Invalid, NotFound
from gateway.intake import report
from gateway.store import db

PAGE_SIZE = 100
STATUSES = ("received", "processing", "done", "failed")
OUTCOMES = ("created", "matched", "updated", "ambiguous", "rejected", "added", "deleted", "problems")
MEDIA_TYPES = {"marcxml": ("application/marcxml+xml", "xml"), "iso2709": ("application/marc", "mrc")}


def _day(raw: str, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{field} must be a date (YYYY-MM-DD)", field=field) from None


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), LOCAL_TZ)


def delivery_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["id"])
    except ValueError:
        raise NotFound("no such delivery") from None
    if not db.is_row_id(value):
        raise NotFound("no such delivery")
    return value


async def check_visible(request: web.Request, v: Viewer, did: int) -> None:
    """404 unless the viewer may see the delivery (their own; one with records for their sigel)."""
    async with reads(request).acquire() as conn:
        if not await conn.fetchval(SQL["delivery_visible"], did, v.supplier_id, v.sigel):
            raise NotFound(f"no delivery {did}")


def plain(problems: Any, lang: str, *, sigel: str | None = None, supplier: str | None = None) -> list[dict[str, str]]:
    """Stored problems in plain words in the viewer's language (gateway.problem_texts, the texts
    the e-mails use), the stored message beside them as the detail (it names the tag or value)."""
    out = []
    for p in problems or []:
        code = str(p.get("code", "")) if isinstance(p, dict) else ""
        message = str(p.get("message", "")) if isinstance(p, dict) else str(p)
        words = problem_texts.text(code, lang, sigel=sigel, supplier=supplier)
        out.append({"code": code, "text": words or message,
                    "detail": message if words and message != words else ""})
    return out


async def listing(request: web.Request) -> web.Response:
    v = viewer(request)
    q = request.query
    status = q.get("status") or None
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", field="status")
    supplier = (q.get("supplier") or "").strip() or None if v.is_admin else None
    since, until = _day(q.get("from", ""), "from"), _day(q.get("to", ""), "to")
    try:
        before = int(q["before"]) if q.get("before") else None
    except ValueError:
        raise Invalid("before must be a delivery id", field="before") from None
    if before is not None and not 0 <= before <= db.MAX_ID:
        raise Invalid("before must be a delivery id", field="before")
    async with reads(request).acquire() as conn:
        suppliers = [s["code"] for s in await registry.list_suppliers(conn)] if v.is_admin else []
        items = await report.listing(
            conn, v.supplier_id, PAGE_SIZE, before, status=status, supplier_code=supplier,
            since=_start(since) if since else None, until=_start(until + timedelta(days=1)) if until else None,
            sigel=v.sigel,
        )
    more = dict(q)
    more["before"] = items[-1]["id"] if items else ""
    return page(request, "deliveries.html", items=items, suppliers=suppliers, statuses=STATUSES, status=status,
                supplier=supplier, since=q.get("from", ""), until=q.get("to", ""),
                next_query=more if len(items) == PAGE_SIZE else None)


async def detail(request: web.Request) -> web.Response:
    v = viewer(request)
    did = delivery_id(request)
    await check_visible(request, v, did)
    outcome = request.query.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise Invalid(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
    try:
        after = int(request.query.get("after") or 0)
    except ValueError:
        after = 0
    after = max(0, min(after, 2**31 - 1))
    async with reads(request).acquire() as conn:
        head = await report.header(conn, did, None)
        if v.sigel is not None:  # a library sees what the delivery did for it, not for the others
            head["summary"] = {k: int(n) for k, n in (await conn.fetchrow(SQL["delivery_sigel_summary"], did,
                                                                             v.sigel)).items()}
        progress = await conn.fetchrow(SQL["delivery_progress"], did)
        if report.results_pruned(head):  # the rows left (for provenance) are not the results
            found = []
        elif outcome is None and v.sigel is None:
            found = await conn.fetch(SQL["delivery_rows"], did, after, PAGE_SIZE)
        else:
            found = await conn.fetch(SQL["delivery_rows_filtered"], did, after, outcome, v.sigel, PAGE_SIZE)
        rows = [dict(r) for r in found]
        for r in rows:  # an ambiguous match: its candidates with their titles
            shown = report.reported_outcome(r["kind"], r["outcome"], r["candidates"])
            r["attached_as"], r["outcome"] = (r["outcome"], shown) if shown == report.AMBIGUOUS else (None, shown)
        titles = await report.candidate_titles(conn, [c for r in rows if r["attached_as"] for c in r["candidates"]])
    lang = request.get(LANG, "sv")
    for r in rows:
        r["errors"] = plain(r["errors"], lang, sigel=r["sigel"], supplier=head["supplier"])
        r["warnings"] = plain(r["warnings"], lang, sigel=r["sigel"], supplier=head["supplier"])
        r["candidate_records"] = ([{"id": c, "title": titles.get(c)} for c in r["candidates"]]
                                  if r["attached_as"] else [])
    return page(request, "delivery.html", d=head, progress=progress, rows=rows, outcome=outcome, outcomes=OUTCOMES,
                next_after=rows[-1]["position"] if len(rows) == PAGE_SIZE else None,
                downloads=v.role != "library")


async def progress(request: web.Request) -> web.Response:
    v = viewer(request)
    did = delivery_id(request)
    await check_visible(request, v, did)
    async with reads(request).acquire() as conn:
        row = await conn.fetchrow(SQL["delivery_progress"], did)
    return web.json_response({"status": row["status"], "done": int(row["done"]), "total": row["record_count"]})


async def payload(request: web.Request) -> web.StreamResponse:
    """The delivery's body as it was received (after any gzip), streamed from its chunks."""
    v = viewer(request)
    did = delivery_id(request)
    if v.role == "library":  # the file holds other libraries' orders too
        raise NotFound(f"no delivery {did}")
    await check_visible(request, v, did)
    async with reads(request).acquire() as conn:
        gone = (await report.delivery_header(conn, did, None))["pruned"]
        if gone and "payload" in gone:  # 410: it was there, and was removed (retention)
            text = i18n.catalog(request.get(LANG, "sv"))["payload_removed"]
            return web.Response(status=410, text=text.replace("{days}", str(gone["payload"]["after_days"])))
        media, ext = MEDIA_TYPES.get(await conn.fetchval(SQL["delivery_format"], did), ("application/octet-stream",
                                                                                        "bin"))
        response = web.StreamResponse(headers={
            "Content-Type": media, "Content-Disposition": f'attachment; filename="delivery-{did}.{ext}"'})
        await response.prepare(request)
        async with conn.transaction():
            async for row in conn.cursor(SQL["delivery_payload"], did, prefetch=4):
                await response.write(row["data"])
    await response.write_eof()
    return response


async def report_json(request: web.Request) -> web.StreamResponse:
    """The same JSON report as GET /deliveries/{id}, as a download."""
    v = viewer(request)
    did = delivery_id(request)
    if v.role == "library":
        raise NotFound(f"no delivery {did}")
    await check_visible(request, v, did)
    async with reads(request).acquire() as conn:
        response = web.StreamResponse(headers={
            "Content-Type": "application/json; charset=utf-8",
            "Content-Disposition": f'attachment; filename="delivery-{did}-report.json"'})
        await response.prepare(request)
        await report.stream_json(conn, did, v.supplier_id, response.write)
    await response.write_eof()
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/console/deliveries", listing)
    router.add_get("/console/deliveries/{id}", detail)
    router.add_get("/console/deliveries/{id}/progress", progress)
    router.add_get("/console/deliveries/{id}/payload", payload)
    router.add_get("/console/deliveries/{id}/report.json", report_json)
