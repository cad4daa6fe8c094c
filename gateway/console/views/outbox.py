"""The outbox: notifications with their status, each e-mail previewed exactly as the library gets it
(headers, the plain-text part, the HTML part in a sandboxed frame), and resend (admin)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from aiohttp import web

from gateway.console.sessions import Viewer
from gateway.console.web import FRAME_CSP, page, reads, redirect, require_admin, viewer
from gateway.errors import Invalid, NotFound
from gateway.http.appkeys import POOL, SETTINGS
from gateway.outbox import queue as outbox
from gateway.outbox.mail.render import MailContext, render

PAGE_SIZE = 50
#: The HTML part is shown in a frame of its own: no script, no network, nothing but its own styles.
MAIL_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
SHOWN_HEADERS = ("Subject", "From", "To", "Date", "Message-ID", "References", "Content-Language")


def _id(request: web.Request) -> int:
    try:
        value = int(request.match_info["id"])
    except ValueError:
        raise NotFound("no such notification") from None
    if not 0 < value < 2**63:
        raise NotFound("no such notification")
    return value


async def _message(request: web.Request, v: Viewer, nid: int) -> tuple[dict[str, Any], EmailMessage]:
    async with reads(request).acquire() as conn:
        row = await outbox.get(conn, nid)
        outgoing = await outbox.load_outgoing(conn, nid)
    if row is None or outgoing is None or (v.sigel is not None and row["sigel"] != v.sigel):
        raise NotFound(f"no notification {nid}")
    return row, render(outgoing, MailContext.from_settings(request.app[SETTINGS])).message


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return ""
    return str(part.get_content())


async def listing(request: web.Request) -> web.Response:
    v = viewer(request)
    if v.role == "supplier":
        raise NotFound("no such page")
    statuses = [s for s in request.query.getall("status", []) if s]
    try:
        outbox.check_statuses(statuses)
    except ValueError as exc:
        raise Invalid(str(exc), field="status") from None
    try:
        before = int(request.query["before"]) if request.query.get("before") else None
    except ValueError:
        before = None
    sigel = v.sigel if v.sigel is not None else (request.query.get("sigel") or None)
    async with reads(request).acquire() as conn:
        rows = await outbox.list_notifications(conn, statuses=statuses or None, sigel=sigel, before_id=before,
                                               limit=PAGE_SIZE)
    return page(request, "outbox.html", rows=rows, statuses=outbox.STATUSES, status=statuses[0] if statuses else "",
                sigel=sigel or "", next_before=rows[-1]["id"] if len(rows) == PAGE_SIZE else None)


async def detail(request: web.Request) -> web.Response:
    v = viewer(request)
    nid = _id(request)
    row, message = await _message(request, v, nid)
    headers = [(name, str(message[name])) for name in SHOWN_HEADERS if message[name] is not None]
    notice = {"queued": "resent", "in_flight": "in_flight"}.get(request.query.get("resend", ""))
    return page(request, "notification.html", n=row, headers=headers, plain=_part(message, "plain"), notice=notice)


async def html_part(request: web.Request) -> web.Response:
    """The HTML part alone, for the preview frame (its own CSP: sandboxed, no script, no network)."""
    v = viewer(request)
    _, message = await _message(request, v, _id(request))
    request[FRAME_CSP] = MAIL_CSP
    return web.Response(text=_part(message, "html"), content_type="text/html", charset="utf-8")


async def resend(request: web.Request) -> web.Response:
    require_admin(request)
    nid = _id(request)
    async with request.app[POOL].acquire() as conn:
        result = await outbox.resend(conn, nid)
    if result is outbox.ResendResult.NOT_FOUND:
        raise NotFound(f"no notification {nid}")
    return redirect(f"/console/outbox/{nid}?resend={result.value}")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/console/outbox", listing)
    router.add_get("/console/outbox/{id}", detail)
    router.add_get("/console/outbox/{id}/html", html_part)
    router.add_post("/console/outbox/{id}/resend", resend)
