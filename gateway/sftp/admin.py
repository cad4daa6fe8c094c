"""Admin API for SFTP keys: GET/POST /admin/suppliers/{code}/keys, DELETE /admin/suppliers/{code}/keys/{key}.

POST takes {"key": "<the OpenSSH public key line>"}; {key} in DELETE is the key's id or fingerprint.
The /admin/ middleware (gateway.http.admin) checks the admin token first.
"""

from __future__ import annotations

from aiohttp import web

from gateway.errors import Invalid
from gateway.http.appkeys import POOL
from gateway.sftp import keys


async def supplier_keys(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    async with request.app[POOL].acquire() as conn:
        if request.method == "GET":
            return web.json_response({"supplier": code, "keys": await keys.list_keys(conn, code)})
        try:
            body = await request.json()
        except ValueError:
            raise Invalid("the body must be a JSON object with key") from None
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object with key")
        row = await keys.add_key(conn, code, body.get("key"))  # type: ignore[arg-type]  # checked there
    return web.json_response(row, status=201)


async def supplier_key(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    async with request.app[POOL].acquire() as conn:
        removed = await keys.remove_key(conn, code, request.match_info["key"])
    return web.json_response({"supplier": code, "removed": removed})


def add_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/admin/suppliers/{code}/keys", supplier_keys)
    app.router.add_route("POST", "/admin/suppliers/{code}/keys", supplier_keys)
    app.router.add_route("DELETE", "/admin/suppliers/{code}/keys/{key}", supplier_key)
