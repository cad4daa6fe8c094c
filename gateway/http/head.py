"""HEAD on every GET route: the same status and headers as GET, never a body.

aiohttp adds HEAD for routes made with `add_get`, not for `add_route("GET", …)`, and a handler
that streams (`StreamResponse.write`) sends its body even to HEAD, unframed, which breaks the
client's keep-alive connection. Streaming handlers therefore stop after `prepare` when
`is_head(request)`; `allow_head` gives every GET route its HEAD twin.
"""

from __future__ import annotations

from aiohttp import hdrs, web


def is_head(request: web.BaseRequest) -> bool:
    return request.method == hdrs.METH_HEAD


def allow_head(app: web.Application) -> None:
    """Route HEAD to the GET handler of every resource that has GET but no HEAD."""
    for resource in app.router.resources():
        if not isinstance(resource, web.Resource):
            continue
        methods = {route.method: route for route in resource}
        get = methods.get(hdrs.METH_GET)
        if get is not None and hdrs.METH_HEAD not in methods:
            resource.add_route(hdrs.METH_HEAD, get.handler)
