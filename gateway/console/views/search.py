"""Search with the SRU engine: plain words (every word, anywhere in the record's summary) or CQL."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.console.web import page, viewer
from gateway.search.http import SRU_SERVICE
from protocols import cql
from protocols.sru import diagnostics as d
from protocols.sru.query import resolve

PAGE_SIZE = 20
MAX_START = 100_000


def words_query(words: str) -> str:
    """Plain words as CQL: all of them, in any searchable field, with no masking or anchoring."""
    escaped = "".join("\\" + c if c in '\\"*?^' else c for c in words.strip())
    return f'cql.serverChoice all "{escaped}"'


async def search(request: web.Request) -> web.Response:
    viewer(request)
    words = request.query.get("q", "")
    advanced = request.query.get("cql", "")
    try:
        start = min(max(int(request.query.get("start", "0")), 0), MAX_START)
    except ValueError:
        start = 0
    text = advanced.strip() or (words_query(words) if words.strip() else "")
    context: dict[str, Any] = {"q": words, "cql": advanced, "query": text, "start": start, "size": PAGE_SIZE,
                                  "results": None, "problem": None, "total": 0}
    if text:
        try:
            expr, sort = resolve(cql.parse(text))
            result = await request.app[SRU_SERVICE].backend.search(expr, sort, start, PAGE_SIZE, holdings=False)
        except cql.CQLError as e:
            context["problem"] = f"{e.message} ({e.position})"
        except d.SRUDiagnostic as e:
            context["problem"] = e.message + (f": {e.details}" if e.details else "")
        else:
            context["results"] = result.records
            context["total"] = result.total
    return page(request, "search.html", **context)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/console/search", search)
