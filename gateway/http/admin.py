"""Admin API under /admin/ (Authorization: Bearer FORVARV_ADMIN_TOKEN): the registry, the review queue
and its actions, records (detail and provenance) and protected records."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import library_tokens, registry
from gateway.errors import Invalid
from gateway.http.appkeys import POOL, SETTINGS
from gateway.http.auth import require_admin
from gateway.intake import protection, provenance, review
from gateway.store import db


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise Invalid("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{key} is required and must be a non-empty string", field=key)
    if "\x00" in value:
        raise Invalid(f"{key} must not contain NUL characters", field=key)
    return value.strip()


def _id(raw: str, key: str) -> int:
    """A row id from the path: a positive bigint (a larger number would reach PostgreSQL as an error)."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not db.is_row_id(value):
        raise Invalid(f"{key} must be a positive integer below 2^63", field=key)
    return value


def _emails(value: Any) -> Any:
    """emails as the registry takes them (which checks them): one address may be a plain string."""
    return [value] if isinstance(value, str) else value


@web.middleware
async def admin_only(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/admin/"):
        require_admin(request)
        # PostgreSQL text cannot hold a NUL: refuse it here rather than as a database error.
        for key, value in (*request.match_info.items(), *request.query.items()):
            if "\x00" in value:
                raise Invalid(f"{key} must not contain NUL characters", field=key)
    response: web.StreamResponse = await handler(request)
    return response


async def suppliers(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        if request.method in ("GET", "HEAD"):
            return web.json_response({"suppliers": await registry.list_suppliers(conn)})
        body = await _json(request)
        code, name = _str(body, "code"), _str(body, "name")
        async with conn.transaction():
            await registry.add_supplier(conn, code, name)
            token_id, token = await registry.create_token(conn, code)
    return web.json_response({"code": code, "name": name, "token_id": token_id, "token": token}, status=201)


async def supplier(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    async with request.app[POOL].acquire() as conn:
        if request.method == "DELETE":
            await registry.remove_supplier(conn, code)
            return web.json_response({"removed": code})
        s = await registry.get_supplier(conn, code)
        tokens = await registry.list_tokens(conn, code)
        customers = await registry.list_customers(conn, code)
    return web.json_response({"code": s.code, "name": s.name, "tokens": tokens,
                              "customers": [c["sigel"] for c in customers]})


async def tokens(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    async with request.app[POOL].acquire() as conn:
        token_id, token = await registry.create_token(conn, code)
    return web.json_response({"supplier": code, "token_id": token_id, "token": token}, status=201)


async def revoke(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    raw = request.match_info.get("token_id")
    token_id = _id(raw, "token_id") if raw is not None else None
    async with request.app[POOL].acquire() as conn:
        count = await registry.revoke_token(conn, code, token_id)
    return web.json_response({"supplier": code, "revoked": count})


def _library_json(lib: dict[str, Any]) -> dict[str, Any]:
    return {**lib, "emails": list(lib["emails"])}


async def libraries(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        if request.method in ("GET", "HEAD"):
            return web.json_response({"libraries": [_library_json(x) for x in await registry.list_libraries(conn)]})
        body = await _json(request)
        sigel, name = _str(body, "sigel"), _str(body, "name")
        # The registry checks every value's type; a JSON true/false is not guessed from "false" or 0.
        lib = await registry.add_library(
            conn, sigel, name, _emails(body.get("emails", [])),
            language=body.get("language", "sv"),
            registered=body.get("registered", True),
            digest=body.get("digest", False),
        )
    return web.json_response(_library_json(lib), status=201)


async def library(request: web.Request) -> web.Response:
    sigel = request.match_info["sigel"]
    async with request.app[POOL].acquire() as conn:
        if request.method == "DELETE":
            await registry.remove_library(conn, sigel)
            return web.json_response({"removed": sigel})
        if request.method == "PATCH":
            changes = await _json(request)
            if "emails" in changes:
                changes["emails"] = _emails(changes["emails"])
            lib = await registry.update_library(conn, sigel, **changes)
        else:
            lib = await registry.get_library(conn, sigel)
    return web.json_response(_library_json(lib))


async def library_token_routes(request: web.Request) -> web.Response:
    """Console tokens of a library: GET lists, POST issues one (shown once), DELETE revokes."""
    sigel = request.match_info["sigel"]
    raw = request.match_info.get("token_id")
    async with request.app[POOL].acquire() as conn:
        if request.method == "GET":
            return web.json_response({"sigel": sigel, "tokens": await library_tokens.list_tokens(conn, sigel)})
        if request.method == "POST":
            token_id, token = await library_tokens.create_token(conn, sigel)
            return web.json_response({"sigel": sigel, "token_id": token_id, "token": token}, status=201)
        count = await library_tokens.revoke_token(conn, sigel, _id(raw, "token_id") if raw is not None else None)
    return web.json_response({"sigel": sigel, "revoked": count})


async def customers(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        if request.method in ("GET", "HEAD"):
            return web.json_response({"customers": await registry.list_customers(conn,
                                                                                 request.query.get("supplier"))})
        body = await _json(request)
        code, sigel = _str(body, "supplier"), _str(body, "sigel")
        await registry.add_customer(conn, code, sigel)
    return web.json_response({"supplier": code, "sigel": sigel}, status=201)


async def customer(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await registry.remove_customer(conn, request.match_info["code"], request.match_info["sigel"])
    return web.json_response({"removed": [request.match_info["code"], request.match_info["sigel"]]})


async def review_list(request: web.Request) -> web.Response:
    include_resolved = request.query.get("all") in ("1", "true")
    async with request.app[POOL].acquire() as conn:
        items = await review.list_items(conn, include_resolved=include_resolved)
    return web.json_response({"items": items})


async def review_item(request: web.Request) -> web.Response:
    item_id = _id(request.match_info["id"], "id")
    async with request.app[POOL].acquire() as conn:
        item = await review.get_item(conn, item_id, org_code=request.app[SETTINGS].org_code)
    return web.json_response(item)


async def _resolve_body(request: web.Request) -> dict[str, Any]:
    """The action to take; no body at all is {"action": "dismiss"} (the earlier plain resolve)."""
    if not await request.read():
        return {"action": "dismiss"}
    body = await _json(request)
    unknown = sorted(set(body) - {"action", "record_id", "records", "override_protected", "by"})
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    action = body.get("action")
    if not isinstance(action, str):
        raise Invalid(f"action is required: one of {', '.join(review.ACTIONS)}", field="action")
    override = body.get("override_protected", False)
    if not isinstance(override, bool):
        raise Invalid("override_protected must be true or false", field="override_protected")
    records = body.get("records")
    if records is not None and not isinstance(records, list):
        raise Invalid("records must be a list of record numbers", field="records")
    record_id = body.get("record_id")
    if record_id is not None and not isinstance(record_id, (str, int)):
        raise Invalid("record_id must be a record number", field="record_id")
    by = body.get("by")
    if by is not None and (not isinstance(by, str) or not by.strip() or len(by) > 100 or "\x00" in by):
        raise Invalid("by must be a name of at most 100 characters", field="by")
    return {"action": action, "record_id": record_id, "records": records, "override_protected": override,
            "actor": f"admin ({by.strip()})" if by else "admin"}


async def review_resolve(request: web.Request) -> web.Response:
    item_id = _id(request.match_info["id"], "id")
    args = await _resolve_body(request)
    async with request.app[POOL].acquire() as conn:
        done = await review.resolve(conn, item_id, args.pop("action"), org_code=request.app[SETTINGS].org_code,
                                    **args)
    return web.json_response({"resolved": item_id, **done})


async def record(request: web.Request) -> web.Response:
    record_id = _id(request.match_info["id"], "id")
    async with request.app[POOL].acquire() as conn:
        detail = await provenance.record_detail(conn, record_id)
    return web.json_response(detail)


async def record_protect(request: web.Request) -> web.Response:
    record_id = _id(request.match_info["id"], "id")
    on = request.match_info["action"] == "protect"
    async with request.app[POOL].acquire() as conn:
        state = await protection.set_protected(conn, record_id, on)
    return web.json_response(state)


def setup(app: web.Application) -> None:
    app.middlewares.append(admin_only)
    r = app.router
    r.add_route("GET", "/admin/suppliers", suppliers)
    r.add_route("POST", "/admin/suppliers", suppliers)
    r.add_route("GET", "/admin/suppliers/{code}", supplier)
    r.add_route("DELETE", "/admin/suppliers/{code}", supplier)
    r.add_route("POST", "/admin/suppliers/{code}/tokens", tokens)
    r.add_route("DELETE", "/admin/suppliers/{code}/tokens", revoke)
    r.add_route("DELETE", "/admin/suppliers/{code}/tokens/{token_id}", revoke)
    r.add_route("GET", "/admin/libraries", libraries)
    r.add_route("POST", "/admin/libraries", libraries)
    r.add_route("GET", "/admin/libraries/{sigel}", library)
    r.add_route("PATCH", "/admin/libraries/{sigel}", library)
    r.add_route("DELETE", "/admin/libraries/{sigel}", library)
    for method in ("GET", "POST", "DELETE"):
        r.add_route(method, "/admin/libraries/{sigel}/tokens", library_token_routes)
    r.add_route("DELETE", "/admin/libraries/{sigel}/tokens/{token_id}", library_token_routes)
    r.add_route("GET", "/admin/customers", customers)
    r.add_route("POST", "/admin/customers", customers)
    r.add_route("DELETE", "/admin/customers/{code}/{sigel}", customer)
    r.add_route("GET", "/admin/review", review_list)
    r.add_route("GET", "/admin/review/{id}", review_item)
    r.add_route("POST", "/admin/review/{id}/resolve", review_resolve)
    r.add_route("GET", "/admin/records/{id}", record)
    r.add_route("POST", "/admin/records/{id}/{action:protect|unprotect}", record_protect)
