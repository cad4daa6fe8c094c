"""A real SRU endpoint on loopback per test; every response it writes is schema-checked.

The app holds only the search feature (gateway.http.app wires the rest). Whoever asks (our own
aiohttp client, sruthi, yaz-client, zoomsh), each body is validated against the official
SRU 1.2 or 2.0 bundle (chosen by the root element's namespace), and the test fails at
teardown if any body was not valid.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lxml import etree

from gateway.config import Settings
from gateway.http.appkeys import DATABASE_URL, POOL, SETTINGS
from gateway.search import http as search_http
from tests.ports import free_port
from tests.xmlschemas import assert_valid, schema

XSD_1 = "sru-1.2/SRU-1.2-with-payloads.xsd"
XSD_2 = "sru-2.0/SRU-2.0-with-payloads.xsd"
NS = {
    "srw": "http://www.loc.gov/zing/srw/",
    "diag": "http://www.loc.gov/zing/srw/diagnostic/",
    "xcql": "http://www.loc.gov/zing/cql/xcql/",
    "sru": "http://docs.oasis-open.org/ns/search-ws/sruResponse",
    "scan": "http://docs.oasis-open.org/ns/search-ws/scan",
    "diag2": "http://docs.oasis-open.org/ns/search-ws/diagnostic",
    "zr": "http://explain.z3950.org/dtd/2.0/",
    "marc": "http://www.loc.gov/MARC21/slim",
    "dc": "http://purl.org/dc/elements/1.1/",
    "srw_dc": "info:srw/schema/1/dc-schema",
}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


def validate(body: bytes) -> etree._Element:
    """The response root, validated; of a SOAP envelope, the SRU response in its Body (a fault
    has no schema of ours: its shape is checked by the SOAP tests)."""
    root = etree.fromstring(body, _PARSER)
    if root.tag == f"{{{SOAP_NS}}}Envelope":
        entries = [e for e in root.iterfind(f"{{{SOAP_NS}}}Body/*")]
        assert len(entries) == 1, body
        if entries[0].tag == f"{{{SOAP_NS}}}Fault":
            return entries[0]
        root = etree.fromstring(etree.tostring(entries[0]), _PARSER)  # the response as a document
    namespace = etree.QName(root).namespace
    xsd = XSD_1 if namespace == NS["srw"] else XSD_2
    return assert_valid(xsd, root)


@dataclass
class Endpoint:
    pool: asyncpg.Pool
    #: Given (as the gateway does), searches run on their own read-only pool.
    database_url: str | None = None
    timeout_ms: int = 5000
    max_records: int = 100
    #: The result cache (gateway/search/cache.py) is off unless a test asks for it: a cached answer
    #: may trail a commit by its notification's way to the listener, and most tests here read
    #: right after they write (tests/sru/test_cache.py waits where it must).
    cache_mb: int = 0
    port: int = field(default_factory=free_port)
    bodies: list[bytes] = field(default_factory=list)
    server: TestServer | None = None
    session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sru"

    async def start(self) -> None:
        schema(XSD_1)  # skip early, with the reason, when the official schemas are absent
        schema(XSD_2)
        settings = Settings(
            public_url=f"http://127.0.0.1:{self.port}",
            sru_max_records=self.max_records,
            sru_timeout_ms=self.timeout_ms,
            sru_cache_mb=self.cache_mb,
        )
        app = web.Application(middlewares=[self._record])
        app[SETTINGS] = settings
        app[POOL] = self.pool
        if self.database_url is not None:
            app[DATABASE_URL] = self.database_url
        search_http.setup(app)
        self.server = TestServer(app, host="127.0.0.1", port=self.port)
        await self.server.start_server()
        self.session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.server is not None:
            await self.server.close()

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        if isinstance(response, web.Response) and response.body is not None:
            body = response.body
            assert isinstance(body, bytes)
            self.bodies.append(body)
        return response

    async def get(self, **params: str | int) -> etree._Element:
        """GET /sru with these parameters; the validated response root."""
        assert self.session is not None
        query = {k: str(v) for k, v in params.items()}
        async with self.session.get(self.url, params=query) as response:
            assert response.status == 200
            assert response.content_type == "application/xml"
            body = await response.read()
        return validate(body)

    async def post(self, **params: str | int) -> etree._Element:
        assert self.session is not None
        data = {k: str(v) for k, v in params.items()}
        async with self.session.post(self.url, data=data) as response:
            assert response.status == 200
            body = await response.read()
        return validate(body)


@pytest.fixture
async def sru(pool: asyncpg.Pool, db_url: str) -> AsyncIterator[Endpoint]:
    endpoint = Endpoint(pool, db_url)
    await endpoint.start()
    yield endpoint
    await endpoint.close()
    for body in endpoint.bodies:  # responses fetched by third-party clients too
        validate(body)


def diagnostics(root: etree._Element) -> list[str]:
    """The diagnostic URIs of a response, any version."""
    return [e.text or "" for e in root.iterfind(".//diag:uri", NS)] + [
        e.text or "" for e in root.iterfind(".//diag2:uri", NS)
    ]


def codes(root: etree._Element) -> list[int]:
    return [int(uri.rsplit("/", 1)[1]) for uri in diagnostics(root)]


def number_of_records(root: etree._Element) -> int | None:
    text = root.findtext("srw:numberOfRecords", namespaces=NS)
    if text is None:
        text = root.findtext("sru:numberOfRecords", namespaces=NS)
    return None if text is None else int(text)


def record_ids(root: etree._Element) -> list[int]:
    """001 of every MARCXML record in the response, in order."""
    return [int(e.text or "0") for e in root.iterfind(".//marc:record/marc:controlfield[@tag='001']", NS)]
