"""Serving the app over HTTP: aiohttp's server with the gateway's limits, and a clear answer for a
request too long to reach any handler.

aiohttp's parser refuses a request line over `max_line_size` or a header over `max_field_size`
before routing, with a plain-text 400 that quotes the line and an ERROR log with a traceback.
Here a request line over `MAX_REQUEST_LINE` gets 414 and an over-long header 431, each with a
body saying what the limit is, and one INFO line. The request line has room for the same
arguments as a POSTed form (`gateway.http.forms.MAX_FORM`), so OAI-PMH and SRU arguments have
one bound however they come.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.http.forms import MAX_FORM

log = logging.getLogger(__name__)

#: Longest request line (method, path, query string, version) the server reads: the form limit
#: plus room for the method, the path and the HTTP version.
MAX_REQUEST_LINE = MAX_FORM + 1024
#: Longest header line: aiohttp's default. It differs from MAX_REQUEST_LINE, which is how the
#: parser's complaint about a request line is told from one about a header.
MAX_HEADER_LINE = 8190


def _too_long(exc: LineTooLong) -> web.Response:
    limit = exc.args[1] if len(exc.args) > 1 else None
    if limit == MAX_REQUEST_LINE:
        status, text = 414, (
            f"414 URI Too Long: the request line is longer than {MAX_REQUEST_LINE} bytes. OAI-PMH and "
            f"SRU arguments may take up to {MAX_FORM} bytes, in the URL or POSTed as a form.\n")
    else:
        status, text = 431, f"431 Request Header Fields Too Large: a header line is longer than {limit} bytes.\n"
    response = web.Response(status=status, text=text)
    response.force_close()  # the parser stopped in the middle of the request
    return response


class _Handler(RequestHandler):
    __slots__ = ()

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if isinstance(exc, LineTooLong):
            response = _too_long(exc)
            log.info("answered %d to %s: a line longer than %s bytes", response.status, request.remote,
                     exc.args[1] if len(exc.args) > 1 else "?")
            return response
        return super().handle_error(request, status, exc, message)


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Handler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """An AppRunner whose connections use the gateway's request handler and limits."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("max_line_size", MAX_REQUEST_LINE)
        kwargs.setdefault("max_field_size", MAX_HEADER_LINE)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts the app
        return _Server(plain.request_handler, request_factory=plain.request_factory,
                       handler_cancellation=plain.handler_cancellation, loop=plain._loop, **plain._kwargs)


async def start(app: web.Application, host: str, port: int, **kwargs: Any) -> GatewayRunner:
    """Start the app and listen on host:port; the caller cleans the runner up. OSError if the
    address is taken (the app is cleaned up then)."""
    runner = GatewayRunner(app, access_log=None, **kwargs)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
