"""Turn GatewayError into a JSON answer with its status (and WWW-Authenticate on 401)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.errors import GatewayError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(exc: GatewayError) -> web.Response:
    body: dict[str, object] = {"error": exc.code, "message": exc.message}
    body.update(exc.detail)
    headers = {"WWW-Authenticate": 'Bearer realm="forvarv"'} if exc.status == 401 else None
    return web.json_response(body, status=exc.status, headers=headers)


@web.middleware
async def gateway_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as exc:
        return error_response(exc)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return web.json_response({"error": "internal", "message": "an unexpected error; it has been logged"},
                                 status=500)
