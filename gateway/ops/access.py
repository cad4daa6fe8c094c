"""One log line per HTTP request, the request id, and the request's metrics.

Every answer, refusals included, is one line on the `gateway.access` logger: request id, method,
path (values of secret-looking query arguments replaced by `***`; headers are never logged),
status, milliseconds, the supplier or library when known, and for a refusal (4xx) its reason.
`X-Request-Id` is taken from the request when it is a sane token (a proxy's id: one id in both
logs) or made, and sent back on every answer. The OAI-PMH verb and SRU operation are counted with
their latency (gateway/ops/metrics.py).

This runs on every request, so it is kept cheap (bench/sru.py measures it with the rest of the
`forvarv web` application): the path is the request's own percent-encoded target when it is
printable ASCII and no argument name looks secret (else it is re-encoded with the secrets
starred), the request id is a per-process random prefix and a counter (no system call), and
the metrics' labelled children are looked up once per label set.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from gateway.http.forms import FORM_ARGS
from gateway.ops import metrics

log = logging.getLogger("gateway.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID = web.RequestKey("forvarv_request_id", str)
#: Who made the request, when known: {"supplier": code} / {"library": sigel} / {"admin": "yes"}.
WHO = web.RequestKey("forvarv_who", dict)
#: Why a request was refused, when the code that refused it says (gateway.http.errors, the console).
REASON = web.RequestKey("forvarv_reason", str)

_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
#: Query arguments whose values are never logged (OAI's resumptionToken is a position, not a secret).
_SECRET = re.compile(r"token|secret|passw|key|auth|sig|session|csrf|cookie", re.IGNORECASE)
_NOT_SECRET = frozenset({"resumptionToken"})
MAX_PATH = 1000
OAI_VERBS = frozenset({"Identify", "ListMetadataFormats", "ListSets", "ListIdentifiers", "ListRecords", "GetRecord"})
SRU_OPERATIONS = frozenset({"explain", "searchRetrieve", "scan"})


def identify(request: web.Request, **who: str) -> None:
    request[WHO] = who


def refused(request: web.Request, reason: str) -> None:
    request[REASON] = reason


#: Whether an argument name is secret-looking, by name (names repeat; the first few hundred are kept).
_SECRET_NAMES: dict[str, bool] = {}
#: Request ids made here: this process's random prefix and a counter (32 hex digits, as a uuid4's).
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)
#: Labelled metric children by (metric, labels): prometheus_client's labels() takes a lock and
#: checks its arguments on every call.
_CHILDREN: dict[tuple[object, ...], Any] = {}
_MAX_CACHED = 512


def _secret_name(name: str) -> bool:
    known = _SECRET_NAMES.get(name)
    if known is None:
        known = bool(_SECRET.search(name)) and name not in _NOT_SECRET
        if len(_SECRET_NAMES) < _MAX_CACHED:
            _SECRET_NAMES[name] = known
    return known


def _child(metric: Any, *labels: str) -> Any:
    key = (metric, *labels)
    child = _CHILDREN.get(key)
    if child is None:
        child = metric.labels(*labels)
        if len(_CHILDREN) < _MAX_CACHED:
            _CHILDREN[key] = child
    return child


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def safe_path(request: web.Request) -> str:
    raw = request.raw_path
    if raw.isascii() and raw.isprintable() and " " not in raw \
            and not any(_secret_name(name) for name in request.query):
        # as the client encoded it (the parser let only a valid request target through)
        return raw if len(raw) <= MAX_PATH else raw[:MAX_PATH] + "…"
    query = [(k, "***" if _secret_name(k) else v) for k, v in request.query.items()]
    path = quote(request.path, safe="/:@!$&'()*+,;=-._~%")
    if query:
        path += "?" + urlencode(query, safe="/:*")
    return path if len(path) <= MAX_PATH else path[:MAX_PATH] + "…"


def _reason(request: web.Request, response: web.StreamResponse | None, status: int, text: str | None) -> str:
    said = request.get(REASON) or text
    if not said and isinstance(response, web.Response) and response.body is not None \
            and isinstance(response.body, bytes) and len(response.body) <= 4096:
        if response.content_type == "application/json":
            try:
                body = json.loads(response.body)
                said = str(body.get("message") or body.get("error") or "") if isinstance(body, dict) else ""
            except ValueError:
                said = ""
        elif response.content_type == "text/plain":
            said = response.body.decode("utf-8", "replace")
    said = (said or "").strip().splitlines()[0] if (said or "").strip() else ""
    return said[:300] or _phrase(status)


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)


def _arg(request: web.Request, name: str) -> str | None:
    """An argument of the query string, else of a POSTed form (gateway.http.forms)."""
    value = request.query.get(name)
    if value is None:
        for k, v in request.get(FORM_ARGS, ()):
            if k == name:
                return str(v)
    return value


def _protocol(request: web.Request, status: int, seconds: float) -> None:
    path = request.path
    if path == "/oai":
        verb = _arg(request, "verb") or ""
        verb = verb if verb in OAI_VERBS else "badVerb"
        _child(metrics.OAI_REQUESTS, verb, str(status)).inc()
        _child(metrics.OAI_SECONDS, verb).observe(seconds)
    elif path == "/sru":
        op = _arg(request, "operation") or ("searchRetrieve" if _arg(request, "query") is not None else
                                            "scan" if _arg(request, "scanClause") is not None else "explain")
        op = op if op in SRU_OPERATIONS else "other"
        _child(metrics.SRU_REQUESTS, op, str(status)).inc()
        _child(metrics.SRU_SECONDS, op).observe(seconds)


def _record(request: web.Request, response: web.StreamResponse | None, status: int, started: float,
            text: str | None) -> None:
    seconds = time.perf_counter() - started
    resource = request.match_info.route.resource if request.match_info.route is not None else None
    route = resource.canonical if resource is not None else "unmatched"
    _child(metrics.HTTP_REQUESTS, route, request.method, str(status)).inc()
    _protocol(request, status, seconds)
    who: dict[str, str] = request.get(WHO) or {}
    fields: dict[str, object] = {"request_id": request.get(REQUEST_ID), "method": request.method,
                                 "path": safe_path(request), "status": status,
                                 "duration_ms": round(seconds * 1000, 1), "remote": request.remote, **who}
    line = f"{request.get(REQUEST_ID)} {request.method} {fields['path']} {status} {fields['duration_ms']}ms"
    line += "".join(f" {k}={v}" for k, v in who.items())
    if status >= 400:
        fields["reason"] = reason = _reason(request, response, status, text)
        line += f" refused: {reason}" if status < 500 else f" failed: {reason}"
    log.log(logging.WARNING if status >= 500 else logging.INFO, "%s", line, extra={"access": fields})


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    request[REQUEST_ID] = given if given and _ID.match(given) else new_request_id()
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        text = exc.text if exc.status >= 400 else None
        if exc.status in (404, 405) and request.match_info.http_exception is not None:
            text = "no such path" if exc.status == 404 else f"method {request.method} not allowed here"
        _record(request, None, exc.status, started, text)
        raise
    except asyncio.CancelledError:
        # aiohttp cancels the handlers still running when the server stops after its stop timeout
        _record(request, None, 503, started, "cut short: the server stopped before the answer was complete")
        raise
    except BaseException:
        _record(request, None, 500, started, "an unexpected error (logged above)")
        raise
    _record(request, response, response.status, started, None)
    return response


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer, streamed or not, carries the request's id."""
    rid = request.get(REQUEST_ID)
    if rid:
        response.headers["X-Request-Id"] = rid
