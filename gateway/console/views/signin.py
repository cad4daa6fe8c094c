"""Sign-in (a token in a POSTed form, never in a URL), sign-out, and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from gateway.console import i18n, sessions
from gateway.console.web import SIGN_IN, clear_session_cookie, page, redirect, set_session_cookie
from gateway.http.appkeys import POOL, SETTINGS


async def sign_in_form(request: web.Request) -> web.Response:
    return page(request, "sign_in.html")


async def sign_in(request: web.Request) -> web.Response:
    form = await request.post()
    token = form.get("token")
    opened = None
    if isinstance(token, str):
        async with request.app[POOL].acquire() as conn:
            opened = await sessions.sign_in(conn, request.app[SETTINGS].admin_token, token)
    if opened is None:
        return page(request, "sign_in.html", 401, failed=True)
    value, _ = opened
    response = redirect("/")
    set_session_cookie(response, request, value)
    return response


async def sign_out(request: web.Request) -> web.Response:
    value = request.cookies.get(sessions.SESSION_COOKIE)
    if value:
        async with request.app[POOL].acquire() as conn:
            await sessions.sign_out(conn, value)
    response = redirect(SIGN_IN)
    clear_session_cookie(response)
    return response


def _local(target: object) -> str:
    """Only a path on this site (never another host) is a place to go back to."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


async def choose_language(request: web.Request) -> web.Response:
    form = await request.post()
    response = redirect(_local(form.get("next")))
    lang = form.get("lang")
    if lang in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, str(lang), samesite="Lax", path="/", max_age=365 * 86400,
                            secure=request.app[SETTINGS].public_url.lower().startswith("https://"))
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(SIGN_IN, sign_in_form)
    router.add_post(SIGN_IN, sign_in)
    router.add_post("/console/sign-out", sign_out)
    router.add_post("/console/language", choose_language)
