"""Small bounded forms: OAI-PMH and SRU requests POSTed as application/x-www-form-urlencoded.

`request.post()` reads a body up to the app's `client_max_size` (the delivery limit, hundreds
of megabytes) and parses it in the event loop, so one large form stalls every other request. A
protocol request is a handful of short arguments: a form over MAX_FORM bytes is refused with 413
as soon as that is known (from Content-Length, or after MAX_FORM + 1 bytes), without reading on.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
#: Largest form body, and (in gateway.http.server) about the longest request line: 16 KiB.
MAX_FORM = 16 * 1024
#: The request key under which read_form leaves the pairs it read (the access log counts verbs).
FORM_ARGS = web.RequestKey("forvarv_form", list)


def _too_large() -> web.HTTPRequestEntityTooLarge:
    exc = web.HTTPRequestEntityTooLarge(
        max_size=MAX_FORM, actual_size=MAX_FORM + 1,
        text=f"413 Payload Too Large: OAI-PMH and SRU forms may be at most {MAX_FORM} bytes\n")
    exc.force_close()  # the rest of the body is not read: the connection cannot carry another request
    return exc


async def read_form(request: web.Request) -> list[tuple[str, str]]:
    """The form's (name, value) pairs in order (url-encoded, or multipart with a Content-Length);
    413 if the body is over MAX_FORM bytes."""
    declared = request.content_length
    if declared is not None and declared > MAX_FORM:
        raise _too_large()
    if request.content_type == MULTIPART:  # read whole by aiohttp: only with a small declared length
        if declared is None:
            raise _too_large()
        form = await request.post()
        request[FORM_ARGS] = pairs = [(k, v) for k, v in form.items() if isinstance(v, str)]
        return pairs
    body = b""
    while len(body) <= MAX_FORM:
        more = await request.content.read(MAX_FORM + 1 - len(body))
        if not more:
            break
        body += more
    if len(body) > MAX_FORM:
        raise _too_large()
    charset = request.charset or "utf-8"
    try:
        text = body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        raise web.HTTPBadRequest(text=f"the form is not valid {charset}\n") from None
    request[FORM_ARGS] = pairs = parse_qsl(text, keep_blank_values=True, encoding=charset)
    return pairs
