"""The ceiling bench/sru.py --zebra --ceiling measures the gateway against: what any SRU server
written on aiohttp reaches on this machine, whatever its search does.

Web processes as many as the gateway's, on one port (SO_REUSEPORT), each an aiohttp application
with one route and no middleware that answers a count-only search with the query's number of hits
looked up in a dict (the counts both servers agreed on) and any other search with one stored
MARCXML record, both from a string template: no CQL, no database, no access log, no metrics. The
gateway can come near it only by doing less per request than aiohttp does to read the request
and write the response.
"""

from __future__ import annotations

import asyncio
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from gateway.ops import loop

_COUNT = ('<?xml version="1.0" encoding="UTF-8"?>\n<srw:searchRetrieveResponse xmlns:srw="http://www.loc.gov/zing/srw/">'
          "<srw:version>1.2</srw:version><srw:numberOfRecords>{count}</srw:numberOfRecords>"
          "</srw:searchRetrieveResponse>")
_RECORD = ('<?xml version="1.0" encoding="UTF-8"?>\n<srw:searchRetrieveResponse xmlns:srw="http://www.loc.gov/zing/srw/">'
           "<srw:version>1.2</srw:version><srw:numberOfRecords>1</srw:numberOfRecords><srw:records><srw:record>"
           "<srw:recordSchema>info:srw/schema/1/marcxml-v1.1</srw:recordSchema><srw:recordPacking>xml"
           "</srw:recordPacking><srw:recordData>{record}</srw:recordData><srw:recordPosition>1</srw:recordPosition>"
           "</srw:record></srw:records><srw:echoedSearchRetrieveRequest><srw:query>{query}</srw:query>"
           "</srw:echoedSearchRetrieveRequest></srw:searchRetrieveResponse>")


def serve(port: int, ready: Any, totals: dict[str, int], record: str) -> None:
    """One ceiling web process on ``port`` (see the module docstring)."""

    async def search(request: web.Request) -> web.Response:
        query = request.query.get("query", "")
        if request.query.get("maximumRecords") == "0":
            body = _COUNT.format(count=totals.get(query, 0))
        else:
            body = _RECORD.format(record=record, query=escape(query))
        return web.Response(body=body.encode(), content_type="application/xml", charset="utf-8")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/sru", search)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True).start()
        ready.set()
        await asyncio.Event().wait()

    loop.run(main())  # on the gateway's event loop (uvloop), or the ceiling would be set lower
