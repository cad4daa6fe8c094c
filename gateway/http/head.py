"""HEAD on every GET route: the same status and headers as GET, never a body.

aiohttp adds HEAD for routes made with `add_get`, not for `add_route("GET", …)`, and a handler
that streams (`StreamResponse.write`) sends its body even to HEAD, unframed, which breaks the
client's keep-alive connection. Streaming handlers therefore stop after `prepare` when
`is_head(request)`; `allow_head` gives every other GET route a HEAD twin.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler


def is_head(request: web.BaseRequest) -> bool:
    return request.method == hdrs.METH_HEAD


def _as_get(handler: Handler) -> Handler:
    """Run a GET handler for HEAD. It sees GET (handlers shared with POST or DELETE branch on the
    method); its answer is sent for the real HEAD request, so without a body. Only for handlers
    that return their response unprepared, as every `add_route("GET", …)` handler here does."""

    async def head(request: web.Request) -> web.StreamResponse:
        return await handler(request.clone(method=hdrs.METH_GET))

    return head


def allow_head(app: web.Application) -> None:
    """Route HEAD to the GET handler of every resource that has GET but no HEAD."""
    for resource in app.router.resources():
        if not isinstance(resource, web.Resource):
            continue
        methods = {route.method: route for route in resource}
        get = methods.get(hdrs.METH_GET)
        if get is not None and hdrs.METH_HEAD not in methods:
            resource.add_route(hdrs.METH_HEAD, _as_get(get.handler))
