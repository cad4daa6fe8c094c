"""The console's request plumbing: the guard middleware (session, CSRF, security headers, HTML
error pages), the page helper, and the scope a signed-in viewer is limited to."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from gateway.console import i18n, sessions
from gateway.console.sessions import Viewer
from gateway.errors import GatewayError, NotFound
from gateway.http.appkeys import POOL, SETTINGS
from gateway.http.reads import REPLICAS, read_pool
from gateway.intake.receive import PayloadTooLarge, UnsupportedMediaType
from gateway.ops import access
from gateway.store.replicas import Acquires

log = logging.getLogger(__name__)

PREFIX = "/console"
STATIC = PREFIX + "/static"
SIGN_IN = PREFIX + "/sign-in"
#: Pages anyone may see (the rest send a visitor who is not signed in to SIGN_IN).
PUBLIC = frozenset({SIGN_IN, PREFIX + "/language"})

VIEWER = web.RequestKey("console_viewer", object)
LANG = web.RequestKey("console_lang", str)
CSRF = web.RequestKey("console_csrf", str)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
LOCAL_TZ = ZoneInfo("Europe/Stockholm")

#: Console forms are small and urlencoded (a multipart or oversized body is refused before it is read).
MAX_FORM = 64 * 1024
FORM_TYPES = frozenset({"application/x-www-form-urlencoded"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Forbidden(Exception):
    """A state-changing request without its CSRF token."""


def is_console(path: str) -> bool:
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


def viewer(request: web.Request) -> Viewer:
    """The signed-in viewer (the guard has sent everyone else to the sign-in page)."""
    v = request.get(VIEWER)
    if not isinstance(v, Viewer):
        raise NotFound("not signed in")
    return v


def require_admin(request: web.Request) -> Viewer:
    v = viewer(request)
    if not v.is_admin:
        raise NotFound("no such page")  # 404, not 403: nothing tells others what exists
    return v


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def page(request: web.Request, template: str, http_status: int = 200, **context: Any) -> web.Response:
    lang = request.get(LANG, i18n.DEFAULT)
    base = {
        "t": i18n.catalog(lang),
        "lang": lang,
        "viewer": request.get(VIEWER),
        "csrf": request.get(CSRF, ""),
        "path": request.path,
        "here": request.path_qs,
    }
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=http_status)


def local_time(value: object) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def number(value: object) -> str:
    return f"{value:,}".replace(",", "\u202f") if isinstance(value, int) else str(value)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_console(request.path):
        return await handler(request)
    if request.path.startswith(STATIC + "/"):
        static = await handler(request)
        static.headers.update({k: v for k, v in HEADERS.items() if k != "Cache-Control"})
        return static
    settings = request.app[SETTINGS]
    request[LANG] = i18n.language(request)
    value = request.cookies.get(sessions.SESSION_COOKIE)
    who: Viewer | None = None
    if value:
        async with request.app[POOL].acquire() as conn:
            who = await sessions.load(conn, settings.admin_token, value)
    request[VIEWER] = who
    if who is not None:  # for the access log (gateway/ops/access.py)
        access.identify(request, **({"admin": "yes"} if who.is_admin else {"library": who.sigel or ""}
                                    if who.role == "library" else {"supplier": who.supplier_code or ""}))
    pre = request.cookies.get(sessions.PRE_COOKIE)
    base = value if who is not None else pre
    new_pre = None
    if base is None:
        base = new_pre = sessions.new_value()
    request[CSRF] = sessions.csrf_token(settings.secret, base)
    secure = settings.public_url.lower().startswith("https://")
    response: web.StreamResponse
    try:
        if request.method == "POST":
            if (request.content_length or 0) > MAX_FORM:
                raise PayloadTooLarge(f"a console form is at most {MAX_FORM} bytes")
            if request.content_type not in FORM_TYPES:
                raise UnsupportedMediaType("console forms are sent as application/x-www-form-urlencoded")
            form = await request.post()
            if new_pre is not None or not sessions.csrf_ok(settings.secret, base, form.get("csrf")):
                raise Forbidden
        if who is None and request.path not in PUBLIC:
            response = redirect(SIGN_IN)
        else:
            response = await handler(request)
    except Forbidden:
        access.refused(request, "the console form's CSRF token is missing or wrong")
        response = page(request, "error.html", 403, title_key="forbidden", text_key="forbidden_text")
    except NotFound:
        response = page(request, "error.html", 404, title_key="not_found", text_key="not_found_text")
    except GatewayError as exc:  # a refused value: the message says what (the same as the admin API's)
        access.refused(request, exc.message)
        response = page(request, "error.html", exc.status, title_key="bad_request", message=exc.message)
    except web.HTTPNotFound:
        response = page(request, "error.html", 404, title_key="not_found", text_key="not_found_text")
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    if "Content-Security-Policy" in response.headers and request.get(FRAME_CSP):
        response.headers["Content-Security-Policy"] = request[FRAME_CSP]
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    if new_pre is not None:
        response.set_cookie(sessions.PRE_COOKIE, new_pre, httponly=True, samesite="Lax", secure=secure,
                            path="/")
    if request.method == "POST" and response.status < 400 and request.app.get(REPLICAS) is not None:
        # What this browser just changed is on the primary; a replica may not have replayed it
        # yet: its reads stay on the primary for as long as a replica may lag (see `reads`).
        response.set_cookie(WROTE_COOKIE, "1", httponly=True, samesite="Lax", secure=secure, path=PREFIX,
                            max_age=int(request.app[SETTINGS].read_max_lag) + 2)
    return response


#: Set after a console POST when reads go to replicas: that browser's reads use the primary.
WROTE_COOKIE = "forvarv_console_wrote"


def reads(request: web.Request) -> Acquires:
    """Where a read-only console page gets its connection: a read replica (docs/operations.md),
    unless this browser changed something within the replicas' maximum lag (read your writes)."""
    if request.cookies.get(WROTE_COOKIE):
        primary: Acquires = request.app[POOL]
        return primary
    return read_pool(request.app)


#: A page meant to be shown in a frame of the console (the e-mail preview) sets its own policy here.
FRAME_CSP = web.RequestKey("console_frame_csp", str)


def set_session_cookie(response: web.StreamResponse, request: web.Request, value: str) -> None:
    secure = request.app[SETTINGS].public_url.lower().startswith("https://")
    response.set_cookie(sessions.SESSION_COOKIE, value, httponly=True, samesite="Lax", secure=secure, path="/",
                        max_age=sessions.SESSION_SECONDS)


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(sessions.SESSION_COOKIE, path="/")
