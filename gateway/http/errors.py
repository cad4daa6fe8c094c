"""Turn GatewayError into a JSON answer with its status (and WWW-Authenticate on 401); a client
that went away in the middle of an answer is one INFO line, not an error."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.errors import GatewayError
from gateway.ops import access

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(exc: GatewayError) -> web.Response:
    body: dict[str, object] = {"error": exc.code, "message": exc.message}
    body.update(exc.detail)
    headers = {"WWW-Authenticate": 'Bearer realm="forvarv"'} if exc.status == 401 else None
    return web.json_response(body, status=exc.status, headers=headers)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@web.middleware
async def gateway_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as exc:
        request[access.REASON] = exc.message
        return error_response(exc)
    except web.HTTPException:
        raise
    except Exception as exc:
        if isinstance(exc, ConnectionError) and _gone(request):
            # The client went away while the answer was being written (a harvester stopped, a
            # connection timed out): normal, and nothing more can be sent on that connection.
            # aiohttp raises a reset, a broken pipe, or a bare ConnectionError("Connection lost")
            # when the reset arrives while it waits to drain.
            log.info("client went away during %s %s (%s)", request.method, access.safe_path(request)[:200],
                     type(exc).__name__)
            return web.Response(status=499)  # never sent: aiohttp drops it on the closed connection
        log.exception("unexpected error in %s %s", request.method, request.path)
        return web.json_response({"error": "internal", "message": "an unexpected error; it has been logged"},
                                 status=500)
