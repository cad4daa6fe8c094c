"""Bearer-token guards: suppliers (hashed tokens in the registry) and the admin token."""

from __future__ import annotations

import hmac

from aiohttp import web

from gateway import registry
from gateway.errors import Unauthorized
from gateway.http.appkeys import POOL, SETTINGS
from gateway.ops import access
from gateway.registry import Supplier


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _bytes(token: str) -> bytes:
    # aiohttp hands header bytes that are not UTF-8 on as lone surrogates; keep them comparable
    return token.encode("utf-8", "surrogateescape")


def is_admin(request: web.Request) -> bool:
    expected = request.app[SETTINGS].admin_token
    token = bearer(request)
    return bool(expected and token and hmac.compare_digest(_bytes(token), _bytes(expected)))


def require_admin(request: web.Request) -> None:
    if not request.app[SETTINGS].admin_token:
        raise Unauthorized("the admin API is disabled: set FORVARV_ADMIN_TOKEN")
    if not is_admin(request):
        raise Unauthorized("a valid admin token is required (Authorization: Bearer …)")
    access.identify(request, admin="yes")


async def supplier_or_admin(request: web.Request) -> Supplier | None:
    """The authenticated supplier, or None for the admin; raises Unauthorized otherwise."""
    if is_admin(request):
        access.identify(request, admin="yes")
        return None
    return await require_supplier(request)


async def require_supplier(request: web.Request) -> Supplier:
    token = bearer(request)
    if token is None:
        raise Unauthorized("a supplier token is required (Authorization: Bearer …)")
    if not token.isascii():  # every issued token is ASCII; others would not even encode
        raise Unauthorized("unknown or revoked token")
    async with request.app[POOL].acquire() as conn:
        supplier = await registry.authenticate(conn, token)
    if supplier is None:
        raise Unauthorized("unknown or revoked token")
    access.identify(request, supplier=supplier.code)
    return supplier
