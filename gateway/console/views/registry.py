"""The registry (admin only): suppliers and their tokens, libraries with contacts, language, digest
and console tokens, customer links. Every change goes through gateway.registry (and
gateway.library_tokens), so values are checked and refused with the same messages as in the admin
API; a new token is shown once, on the page that answers the POST."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from gateway import library_tokens, registry
from gateway.console.web import page, redirect, require_admin
from gateway.errors import GatewayError, Invalid
from gateway.http.appkeys import POOL
from gateway.outbox.webhook import registry as webhooks

ROOT = "/console/registry"


def _text(form: Any, key: str) -> str:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _emails(form: Any) -> list[str]:
    return [line.strip() for line in _text(form, "emails").replace(",", "\n").splitlines() if line.strip()]


def _token_id(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise Invalid("token_id must be an integer", field="token_id") from None


async def _overview(conn: asyncpg.Connection) -> dict[str, Any]:
    return {"suppliers": await registry.list_suppliers(conn), "libraries": await registry.list_libraries(conn),
            "customers": await registry.list_customers(conn)}


async def overview(request: web.Request, *, error: GatewayError | None = None, saved: bool = False,
                   form: Any = None) -> web.Response:
    require_admin(request)
    async with request.app[POOL].acquire() as conn:
        data = await _overview(conn)
    return page(request, "registry.html", error=error.message if error else None, saved=saved,
                form=form or {}, http_status=error.status if error else 200, **data)


async def add_supplier(request: web.Request) -> web.Response:
    require_admin(request)
    form = await request.post()
    code, name = _text(form, "code"), _text(form, "name")
    try:
        async with request.app[POOL].acquire() as conn, conn.transaction():
            if not name:
                raise Invalid("name is required and must be a non-empty string", field="name")
            await registry.add_supplier(conn, code, name)
            token_id, token = await registry.create_token(conn, code)
    except GatewayError as exc:
        return await overview(request, error=exc, form=form)
    return await supplier_page(request, code, token=token, token_id=token_id)


async def supplier_page(request: web.Request, code: str | None = None, *, token: str | None = None,
                        token_id: int | None = None, error: GatewayError | None = None) -> web.Response:
    require_admin(request)
    code = code or request.match_info["code"]
    async with request.app[POOL].acquire() as conn:
        supplier = await registry.get_supplier(conn, code)
        tokens = await registry.list_tokens(conn, code)
        customers = await registry.list_customers(conn, code)
    return page(request, "supplier.html", supplier=supplier, tokens=tokens, customers=customers, token=token,
                token_id=token_id, error=error.message if error else None,
                http_status=201 if token else (error.status if error else 200))


async def supplier_token(request: web.Request) -> web.Response:
    require_admin(request)
    code = request.match_info["code"]
    async with request.app[POOL].acquire() as conn:
        token_id, token = await registry.create_token(conn, code)
    return await supplier_page(request, code, token=token, token_id=token_id)


async def supplier_revoke(request: web.Request) -> web.Response:
    require_admin(request)
    code = request.match_info["code"]
    async with request.app[POOL].acquire() as conn:
        await registry.revoke_token(conn, code, _token_id(request.match_info["token_id"]))
    return redirect(f"{ROOT}/suppliers/{code}")


async def add_library(request: web.Request) -> web.Response:
    require_admin(request)
    form = await request.post()
    try:
        async with request.app[POOL].acquire() as conn:
            lib = await registry.add_library(
                conn, _text(form, "sigel"), _text(form, "name"), _emails(form),
                language=_text(form, "language") or "sv", registered=form.get("registered") == "on",
                digest=form.get("digest") == "on")
    except GatewayError as exc:
        return await overview(request, error=exc, form=form)
    return redirect(f"{ROOT}/libraries/{lib['sigel']}")


async def library_page(request: web.Request, *, token: str | None = None, token_id: int | None = None,
                       error: GatewayError | None = None, saved: bool = False, form: Any = None,
                       webhook_secret: str | None = None, webhook_id: int | None = None) -> web.Response:
    require_admin(request)
    sigel = request.match_info["sigel"]
    async with request.app[POOL].acquire() as conn:
        lib = await registry.get_library(conn, sigel)
        tokens = await library_tokens.list_tokens(conn, sigel)
        hooks = await webhooks.list_webhooks(conn, sigel)
    created = token or webhook_secret
    return page(request, "library.html", lib=lib, tokens=tokens, token=token, token_id=token_id, saved=saved,
                error=error.message if error else None, form=form, webhooks=hooks,
                webhook_secret=webhook_secret, webhook_id=webhook_id,
                http_status=201 if created else (error.status if error else 200))


async def update_library(request: web.Request) -> web.Response:
    require_admin(request)
    form = await request.post()
    try:
        async with request.app[POOL].acquire() as conn:
            await registry.update_library(
                conn, request.match_info["sigel"], name=_text(form, "name"), emails=_emails(form),
                language=_text(form, "language"), registered=form.get("registered") == "on",
                digest=form.get("digest") == "on")
    except Invalid as exc:
        return await library_page(request, error=exc, form=form)
    return await library_page(request, saved=True)


async def library_token(request: web.Request) -> web.Response:
    require_admin(request)
    async with request.app[POOL].acquire() as conn:
        token_id, token = await library_tokens.create_token(conn, request.match_info["sigel"])
    return await library_page(request, token=token, token_id=token_id)


async def library_revoke(request: web.Request) -> web.Response:
    require_admin(request)
    sigel = request.match_info["sigel"]
    async with request.app[POOL].acquire() as conn:
        await library_tokens.revoke_token(conn, sigel, _token_id(request.match_info["token_id"]))
    return redirect(f"{ROOT}/libraries/{sigel}")


async def link(request: web.Request) -> web.Response:
    require_admin(request)
    form = await request.post()
    try:
        async with request.app[POOL].acquire() as conn:
            if request.match_info["action"] == "add":
                await registry.add_customer(conn, _text(form, "supplier"), _text(form, "sigel"))
            else:
                await registry.remove_customer(conn, _text(form, "supplier"), _text(form, "sigel"))
    except GatewayError as exc:
        return await overview(request, error=exc, form=form)
    return await overview(request, saved=True)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(ROOT, overview)
    router.add_post(f"{ROOT}/suppliers", add_supplier)
    router.add_get(f"{ROOT}/suppliers/{{code}}", supplier_page)
    router.add_post(f"{ROOT}/suppliers/{{code}}/tokens", supplier_token)
    router.add_post(f"{ROOT}/suppliers/{{code}}/tokens/{{token_id}}/revoke", supplier_revoke)
    router.add_post(f"{ROOT}/libraries", add_library)
    router.add_get(f"{ROOT}/libraries/{{sigel}}", library_page)
    router.add_post(f"{ROOT}/libraries/{{sigel}}", update_library)
    router.add_post(f"{ROOT}/libraries/{{sigel}}/tokens", library_token)
    router.add_post(f"{ROOT}/libraries/{{sigel}}/tokens/{{token_id}}/revoke", library_revoke)
    router.add_post(f"{ROOT}/customers/{{action:add|remove}}", link)
