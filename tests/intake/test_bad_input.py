"""Bad input at POST /deliveries, over real HTTP: the precise status, a useful error body, and
nothing half-loaded (no delivery, no chunk, no record) whenever the body as a whole is refused.

Per-record problems (holdings for the wrong library, records without title or identifier) are
the other half: the delivery loads, the bad record is rejected with its code, the rest stays.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import random
import resource
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.config import Settings
from gateway.http.app import create_app
from gateway.http.appkeys import PARSE_PROCESS
from gateway.intake.parse_process import ParseProcess
from tests.intake.helpers import World, deliver
from tests.xmlschemas import testdata

MARC_NS = "http://www.loc.gov/MARC21/slim"
XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
SMALL_LIMIT = 64 * 1024


# Every test here runs twice: with the body scanned in the gateway process, and scanned in the
# second process (as `forvarv serve` does, gateway.intake.parse_process.ChildScanner), one shared by the module.
@pytest.fixture(scope="module")
def scan_process() -> Iterator[ParseProcess]:
    process = ParseProcess()
    yield process
    process.shutdown()


@pytest.fixture(params=["scanned here", "scanned in the second process"])
async def client(request: pytest.FixtureRequest, db_url: str, settings: Settings, world: World,
                 scan_process: ParseProcess) -> AsyncIterator[TestClient]:
    app = create_app(settings.with_(parse_process=False), database_url=db_url)
    if request.param == "scanned in the second process":
        await scan_process.start()
        app[PARSE_PROCESS] = scan_process
    async with TestClient(TestServer(app)) as c:
        yield c

# --- documents --------------------------------------------------------------------------------


def bib(own_id: str | None = "b1", *, isbn: str | None = "9789150222319", title: str | None = "En titel",
        extra: str = "") -> str:
    """A small bibliographic MARCXML record (no namespace declaration: it sits in a collection)."""
    parts = ["<record type=\"Bibliographic\"><leader>00000nam a2200000 i 4500</leader>"]
    if own_id is not None:
        parts.append(f'<controlfield tag="001">{own_id}</controlfield>')
    parts.append('<controlfield tag="008">170327s2017    sw ||||j     |00| 0|swe d</controlfield>')
    if isbn is not None:
        parts.append(f'<datafield tag="020" ind1=" " ind2=" "><subfield code="a">{isbn}</subfield>'
                     "</datafield>")
    if title is not None:
        parts.append(f'<datafield tag="245" ind1="1" ind2="0"><subfield code="a">{title}</subfield>'
                     "</datafield>")
    parts.append(extra)
    parts.append("</record>")
    return "".join(parts)


def holding(sigel: str | None) -> str:
    b = f'<subfield code="b">{sigel}</subfield>' if sigel is not None else ""
    return ('<record type="Holdings"><leader>00000nx  a2200000 n 4500</leader>'
            '<controlfield tag="008">170714||0000|||||000||||||000000</controlfield>'
            f'<datafield tag="852" ind1=" " ind2=" ">{b}<subfield code="h">Hylla 1</subfield></datafield>'
            "</record>")


def collection(*records: str, ns: str | None = MARC_NS) -> bytes:
    xmlns = f' xmlns="{ns}"' if ns is not None else ""
    return XML_DECL + f"<collection{xmlns}>{''.join(records)}</collection>".encode()


GOOD = collection(bib())

# --- database checks --------------------------------------------------------------------------

TABLES = ("deliveries", "delivery_chunks", "delivery_records", "bib_records", "bib_identifiers", "holdings")


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}


async def assert_nothing_stored(pool: asyncpg.Pool) -> None:
    assert await counts(pool) == dict.fromkeys(TABLES, 0)


async def forget_everything(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE deliveries, bib_records, bib_suppliers, holdings CASCADE")


async def post(client: TestClient, token: str, body: Any, *, content_type: str = "application/marcxml+xml",
               headers: dict[str, str] | None = None, query: str = "?wait=30") -> tuple[int, dict[str, Any],
                                                                                        dict[str, str]]:
    h = {"Authorization": f"Bearer {token}", "Content-Type": content_type, **(headers or {})}
    resp = await client.post(f"/deliveries{query}", data=body, headers=h)
    return resp.status, await resp.json(), dict(resp.headers)


async def refused(client: TestClient, world: World, pool: asyncpg.Pool, body: Any, status: int,
                  **kwargs: Any) -> dict[str, Any]:
    """POST the body, expect `status` with a JSON error, and that nothing was stored."""
    got, answer, _ = await post(client, world.supplier_token, body, **kwargs)
    assert got == status, answer
    assert answer["error"], answer
    assert answer["message"], answer
    await assert_nothing_stored(pool)
    return answer


# --- hostile XML ------------------------------------------------------------------------------


#: The prolog is sniffed for DOCTYPE in its first 64 KiB; past that the parser's docinfo is checked.
PROLOG_PADDING = [b"", b"<!--" + b" " * 70_000 + b"-->\n"]
PADDING_IDS = ["plain", "after-64k-comment"]


@pytest.mark.parametrize("padding", PROLOG_PADDING, ids=PADDING_IDS)
async def test_xxe_external_entity_is_refused_unread(client: TestClient, world: World, pool: asyncpg.Pool,
                                                      padding: bytes) -> None:
    body = (XML_DECL + padding + b'<!DOCTYPE collection [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
            + f'<collection xmlns="{MARC_NS}">'.encode() + bib(title="&xxe;").encode() + b"</collection>")
    answer = await refused(client, world, pool, body, 400)
    assert answer["error"] == "bad_payload"
    assert answer["xml_code"] == "XML_DTD_FORBIDDEN"
    assert "DOCTYPE" in answer["message"]
    assert "root:" not in str(answer)


async def test_doctype_fault_names_its_line(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    body = (XML_DECL + b'<!DOCTYPE collection [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
            + f'<collection xmlns="{MARC_NS}">'.encode() + bib(title="&xxe;").encode() + b"</collection>")
    answer = await refused(client, world, pool, body, 400)
    assert (answer["line"], answer["column"]) == (2, 1)


class _Spy:
    """A real HTTP server on loopback that counts requests: an external DTD must never be fetched."""

    def __init__(self) -> None:
        self.hits: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        return web.Response(text='<!ENTITY xxe "leaked">', content_type="application/xml-dtd")


@pytest.fixture
async def spy() -> AsyncIterator[tuple[_Spy, str]]:
    s = _Spy()
    app = web.Application()
    app.router.add_get("/{name}", s.handle)
    server = TestServer(app)
    await server.start_server()
    yield s, str(server.make_url("/evil.dtd"))
    await server.close()


@pytest.mark.parametrize("padding", PROLOG_PADDING, ids=PADDING_IDS)
async def test_external_dtd_is_never_fetched(client: TestClient, world: World, pool: asyncpg.Pool,
                                             spy: tuple[_Spy, str], padding: bytes) -> None:
    server, url = spy
    comment = padding
    for system in (url, "file:///etc/passwd"):
        body = (XML_DECL + comment + f'<!DOCTYPE collection SYSTEM "{system}">\n'.encode()
                + f'<collection xmlns="{MARC_NS}">'.encode() + bib(title="&xxe;").encode() + b"</collection>")
        answer = await refused(client, world, pool, body, 400)
        assert answer["xml_code"] in ("XML_DTD_FORBIDDEN", "XML_SYNTAX"), answer
        assert "leaked" not in str(answer)
        assert "root:" not in str(answer)
    assert server.hits == []


@pytest.mark.parametrize("padding", PROLOG_PADDING, ids=PADDING_IDS)
async def test_billion_laughs_is_refused(client: TestClient, world: World, pool: asyncpg.Pool,
                                         padding: bytes) -> None:
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    ]
    body = (XML_DECL + padding + f"<!DOCTYPE collection [{''.join(entities)}]>".encode()
            + f'<collection xmlns="{MARC_NS}">'.encode() + bib(title="&lol9;").encode() + b"</collection>")
    answer = await refused(client, world, pool, body, 400)
    assert answer["xml_code"] == "XML_DTD_FORBIDDEN"
    assert "DOCTYPE" in answer["message"]
    assert "lollollol" not in str(answer)


async def test_truncated_xml_reports_line_and_column(client: TestClient, world: World,
                                                     pool: asyncpg.Pool) -> None:
    whole = collection(bib("b1"), bib("b2", isbn="9789100000001")).replace(b"><", b">\n<")
    cut = whole[: whole.index(b"b2") + 10]
    answer = await refused(client, world, pool, cut, 400)
    assert answer["error"] == "bad_payload"
    assert answer["xml_code"] == "XML_SYNTAX"
    assert isinstance(answer["line"], int)
    assert isinstance(answer["column"], int)
    assert answer["line"] > 1
    assert answer["column"] >= 1
    assert f"line {answer['line']}, column {answer['column']}" in answer["message"]


async def test_foreign_namespace_root_is_refused(client: TestClient, world: World,
                                                 pool: asyncpg.Pool) -> None:
    answer = await refused(client, world, pool, collection(bib(), ns="http://example.org/not-marc"), 400)
    assert answer["xml_code"] == "MARCXML_FOREIGN_ROOT"
    assert "http://example.org/not-marc" in answer["message"]
    # another root element altogether, in the MARC namespace
    other = XML_DECL + f'<records xmlns="{MARC_NS}">{bib()}</records>'.encode()
    answer = await refused(client, world, pool, other, 400)
    assert answer["xml_code"] == "MARCXML_FOREIGN_ROOT"


async def test_deep_nesting_is_refused(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    depth = 100_000
    body = (XML_DECL + f'<collection xmlns="{MARC_NS}">{bib()}'.encode()
            + b"<x>" * depth + b"</x>" * depth + b"</collection>")
    answer = await refused(client, world, pool, body, 400)
    assert answer["xml_code"] == "XML_SYNTAX"
    assert "depth" in answer["message"].lower()


async def test_no_namespace_collection_loads_with_a_warning(client: TestClient, world: World,
                                                            pool: asyncpg.Pool) -> None:
    status, report = await deliver(client, world.supplier_token, collection(bib(), ns=None))
    assert status == 200, report
    assert report["status"] == "done"
    (entry,) = report["records"]
    assert entry["outcome"] == "created"
    assert "MARCXML_NO_NAMESPACE" in [w["code"] for w in entry["warnings"]]
    async with pool.acquire() as conn:
        xml = await conn.fetchval("SELECT marcxml FROM bib_records")
    assert f'xmlns="{MARC_NS}"' in xml


async def test_invalid_utf8_is_refused(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    body = collection(bib(title="G\xf6teborg")).replace("ö".encode(), b"\xf6")  # Latin-1 byte in UTF-8
    answer = await refused(client, world, pool, body, 400)
    assert answer["xml_code"] == "XML_ENCODING"
    assert answer["line"] == 2
    assert answer["column"] >= 1
    assert "encoding" in answer["message"].lower()
    # the same byte is fine where the document declares its encoding as Latin-1
    latin1 = body.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    status, report, _ = await post(client, world.supplier_token, latin1)
    assert status == 200, report
    assert report["records"][0]["title"] == "Göteborg"


@pytest.mark.parametrize("char", [b"&#x1;", b"&#1;", b"\x01", b"&#xFFFE;"],
                         ids=["hex-ref", "dec-ref", "raw-byte", "non-character"])
async def test_control_characters_are_not_well_formed(client: TestClient, world: World, pool: asyncpg.Pool,
                                                      char: bytes) -> None:
    body = collection(bib(title="A@B")).replace(b"A@B", b"A" + char + b"B")
    answer = await refused(client, world, pool, body, 400)
    assert answer["xml_code"] == "XML_SYNTAX"
    assert answer["line"] == 2
    assert answer["column"] > 1


@pytest.mark.parametrize("content_type", ["application/marcxml+xml", "application/marc"])
async def test_binary_garbage_is_refused(client: TestClient, world: World, pool: asyncpg.Pool,
                                         content_type: str) -> None:
    garbage = b"\x89PNG\r\n\x1a\n" + random.Random(2709).randbytes(64 * 1024)  # reproducible noise
    answer = await refused(client, world, pool, garbage, 400, content_type=content_type)
    assert answer["error"] == "bad_payload"
    if content_type == "application/marc":
        assert answer["iso_code"] == "ISO_SYNTAX"
        assert answer["record"] == 1
        assert answer["offset"] == 0
        assert answer["message"].startswith("not usable ISO 2709: ")
        assert answer["message"].endswith("(record 1, byte 0)")
    else:
        assert answer["xml_code"] in ("XML_SYNTAX", "XML_ENCODING")
        assert answer["line"] == 1


@pytest.mark.parametrize("content_type", ["application/marcxml+xml", "application/marc"])
async def test_empty_body_is_refused(client: TestClient, world: World, pool: asyncpg.Pool,
                                     content_type: str) -> None:
    answer = await refused(client, world, pool, b"", 400, content_type=content_type)
    assert answer == {"error": "bad_payload", "message": "the body is empty"}


@pytest.mark.parametrize("body", [
    collection(),
    XML_DECL + f'<collection xmlns="{MARC_NS}"/>'.encode(),
    XML_DECL + f'<collection xmlns="{MARC_NS}"><!-- nothing --></collection>'.encode(),
], ids=["empty-collection", "self-closed", "comment-only"])
async def test_well_formed_document_without_records_is_refused(client: TestClient, world: World,
                                                               pool: asyncpg.Pool, body: bytes) -> None:
    answer = await refused(client, world, pool, body, 400)
    assert answer == {"error": "bad_payload", "message": "the body holds no records"}


async def test_iso_body_of_separators_only_is_refused(client: TestClient, world: World,
                                                      pool: asyncpg.Pool) -> None:
    answer = await refused(client, world, pool, b"\r\n\x1d\r\n", 400, content_type="application/marc")
    assert answer["message"] == "the body holds no records"


# --- size limits and content encoding ---------------------------------------------------------


@pytest.fixture
async def small_client(db_url: str, settings: Settings, world: World) -> AsyncIterator[TestClient]:
    """A gateway whose body limit is SMALL_LIMIT bytes."""
    app = create_app(settings.with_(max_body=SMALL_LIMIT), database_url=db_url)
    async with TestClient(TestServer(app)) as c:
        yield c


def padded(size: int) -> bytes:
    """A well-formed-so-far MARCXML body of `size` bytes (so only the limit can stop it)."""
    head = XML_DECL + f'<collection xmlns="{MARC_NS}">{bib()}<!--'.encode()
    tail = b"--></collection>"
    return head + b" " * (size - len(head) - len(tail)) + tail


async def test_body_over_the_limit_with_content_length(small_client: TestClient, world: World,
                                                       pool: asyncpg.Pool) -> None:
    at_limit = padded(SMALL_LIMIT)
    status, report, _ = await post(small_client, world.supplier_token, at_limit)
    assert status == 200, report  # exactly the limit is fine
    await forget_everything(pool)
    answer = await refused(small_client, world, pool, padded(SMALL_LIMIT + 1), 413)
    assert answer == {"error": "payload_too_large",
                      "message": f"the body exceeds the limit of {SMALL_LIMIT} bytes"}


async def _stream(body: bytes, piece: int = 8192) -> AsyncIterator[bytes]:
    for i in range(0, len(body), piece):
        yield body[i : i + piece]
        await asyncio.sleep(0)


async def test_chunked_body_over_the_limit(small_client: TestClient, world: World,
                                           pool: asyncpg.Pool) -> None:
    status, report, _ = await post(small_client, world.supplier_token, _stream(padded(SMALL_LIMIT)))
    assert status == 200, report  # chunked, at the limit
    await forget_everything(pool)
    answer = await refused(small_client, world, pool, _stream(padded(4 * SMALL_LIMIT)), 413)
    assert answer["error"] == "payload_too_large"
    assert str(SMALL_LIMIT) in answer["message"]


BOMB_DECODED = 256 * 1024 * 1024  # decoded body: 4096 times the limit


def _bomb() -> bytes:
    """gzip of a 256 MiB MARCXML-looking body (a comment that never ends): about 250 kB compressed."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = XML_DECL + f'<collection xmlns="{MARC_NS}">{bib()}<!--'.encode()
    out = [c.compress(head)]
    block = b" " * (1024 * 1024)
    for _ in range(BOMB_DECODED // len(block)):
        out.append(c.compress(block))
    out.append(c.compress(b"--></collection>"))
    out.append(c.flush())
    return b"".join(out)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_gzip_bomb_is_stopped_at_the_limit(small_client: TestClient, world: World,
                                                 pool: asyncpg.Pool) -> None:
    bomb = await asyncio.to_thread(_bomb)
    assert len(bomb) < BOMB_DECODED // 500
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    base = _rss()
    peak = base
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss())
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        answer = await refused(small_client, world, pool, bomb, 413, headers={"Content-Encoding": "gzip"})
    finally:
        done.set()
        await sampler
    assert answer["error"] == "payload_too_large"
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    grown = max(peak - base, peak_after - max(peak_before, base))
    assert grown < 64 * 1024 * 1024, f"memory grew by {grown} bytes while refusing a gzip bomb"


async def test_gzip_within_the_limit_but_decoded_over_it(small_client: TestClient, world: World,
                                                         pool: asyncpg.Pool) -> None:
    body = gzip.compress(padded(2 * SMALL_LIMIT))
    assert len(body) < SMALL_LIMIT
    answer = await refused(small_client, world, pool, body, 413, headers={"Content-Encoding": "gzip"})
    assert answer["error"] == "payload_too_large"


@pytest.mark.parametrize("body", [
    b"\x1f\x8b\x08\x00" + os.urandom(2000),
    b"this is not gzip at all",
    gzip.compress(GOOD)[:-4] + b"\x00\x00\x00\x00",
    gzip.compress(GOOD)[:-8] + b"\x00\x00\x00\x00" + gzip.compress(GOOD)[-4:],
], ids=["garbage-after-magic", "no-magic", "wrong-length", "wrong-crc"])
async def test_corrupt_gzip_is_a_bad_request(client: TestClient, world: World, pool: asyncpg.Pool,
                                             body: bytes) -> None:
    answer = await refused(client, world, pool, body, 400, headers={"Content-Encoding": "gzip"})
    assert answer["error"] == "bad_payload"
    assert "gzip" in answer["message"]


async def test_truncated_gzip_is_a_bad_request(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    # aiohttp hands on what it could inflate; the document is then cut, which the scanner sees
    answer = await refused(client, world, pool, gzip.compress(GOOD)[:-12], 400,
                           headers={"Content-Encoding": "gzip"})
    assert answer["xml_code"] == "XML_SYNTAX"
    assert answer["line"] == 2


@pytest.mark.xfail(strict=True, reason="aiohttp does not check the gzip trailer (CRC-32, length) of request "
                   "bodies, and the gateway only sees the decoded body: a body cut inside the trailer loads "
                   "unverified. Needs the raw body (aiohttp auto_decompress off + intake's own _Gunzip)")
async def test_gzip_without_its_trailer_is_a_bad_request(client: TestClient, world: World,
                                                         pool: asyncpg.Pool) -> None:
    body = gzip.compress(GOOD)[:-8]  # deflate data complete, CRC-32 and length missing
    answer = await refused(client, world, pool, body, 400, headers={"Content-Encoding": "gzip"})
    assert "gzip" in answer["message"]


async def test_deflate_encoding_loads(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    status, report, _ = await post(client, world.supplier_token, zlib.compress(GOOD),
                                   headers={"Content-Encoding": "deflate"})
    assert status == 200, report
    assert report["summary"]["created"] == 1


@pytest.mark.parametrize("coding", ["compress", "x-gzip", "gzip, gzip", "snappy"])
async def test_unsupported_content_encoding_is_415(client: TestClient, world: World, pool: asyncpg.Pool,
                                                   coding: str) -> None:
    answer = await refused(client, world, pool, gzip.compress(GOOD), 415,
                           headers={"Content-Encoding": coding})
    assert answer["error"] == "unsupported_media_type"
    assert repr(coding) in answer["message"]


@pytest.mark.xfail(strict=True, reason="aiohttp recognises br/zstd and, without the Brotli/backports.zstd "
                   "packages, answers 400 text/plain from its parser before any handler or middleware runs; "
                   "415 JSON needs an aiohttp-level hook (or refusing these codings in a custom request factory)")
@pytest.mark.parametrize("coding", ["br", "zstd"])
async def test_brotli_and_zstd_are_415(client: TestClient, world: World, pool: asyncpg.Pool,
                                       coding: str) -> None:
    answer = await refused(client, world, pool, GOOD, 415, headers={"Content-Encoding": coding})
    assert answer["error"] == "unsupported_media_type"


@pytest.mark.parametrize(("content_type", "mentions"), [
    ("text/plain", "text/plain"),
    ("application/json", "application/json"),
    ("multipart/form-data; boundary=x", "multipart/form-data"),
    ("application/marc; charset=koi8-r", "koi8-r"),
])
async def test_wrong_content_type_is_415(client: TestClient, world: World, pool: asyncpg.Pool,
                                         content_type: str, mentions: str) -> None:
    answer = await refused(client, world, pool, GOOD, 415, content_type=content_type)
    assert answer["error"] == "unsupported_media_type"
    assert mentions in answer["message"]
    if "charset" not in content_type:
        assert "application/marcxml+xml" in answer["message"]
        assert "application/marc" in answer["message"]


async def test_missing_content_type_is_415(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    resp = await client.post("/deliveries", data=GOOD, skip_auto_headers=["Content-Type"],
                             headers={"Authorization": f"Bearer {world.supplier_token}"})
    assert resp.status == 415
    answer = await resp.json()
    assert answer["error"] == "unsupported_media_type"
    assert "(none)" in answer["message"]
    await assert_nothing_stored(pool)


def iso_book(n: int) -> bytes:
    """A complete ISO 2709 record: a body cut after whole records is still valid ISO 2709."""
    fields = [(b"001", f"c{n}".encode()), (b"020", b"  \x1fa9789150222319"), (b"245", b"10\x1faTitel")]
    directory, data = b"", b""
    for tag, content in fields:
        directory += tag + b"%04d%05d" % (len(content) + 1, len(data))
        data += content + b"\x1e"
    base = 24 + len(directory) + 1
    return b"%05dnam a22%05d i 4500" % (base + len(data) + 1, base) + directory + b"\x1e" + data + b"\x1d"


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(10):
        while True:
            if await check():
                return
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_upload_cut_short_is_not_stored(client: TestClient, world: World, pool: asyncpg.Pool,
                                                 chunked: bool) -> None:
    half = iso_book(1) + iso_book(2)
    assert len(half) < 1000
    head = (f"POST /deliveries HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {world.supplier_token}\r\n"
            "Content-Type: application/marc\r\n")
    if chunked:  # whole chunks, but never the terminating zero-length chunk
        request = head.encode() + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(half) + half + b"\r\n"
    else:        # announces four records, sends two
        request = head.encode() + b"Content-Length: %d\r\n\r\n" % (2 * len(half)) + half
    async with pool.acquire() as conn:

        async def handler_began() -> bool:  # it took a delivery id: it is storing the body
            return bool(await conn.fetchval(
                "SELECT last_value IS NOT NULL FROM pg_sequences WHERE sequencename = 'deliveries_id_seq'"))

        async def handler_ended() -> bool:  # no transaction of the intake is open any more
            return not await conn.fetchval(
                """SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
                      AND (query LIKE '%INTO deliveries%' OR query LIKE '%INTO delivery_chunks%')""")

        assert not await handler_began()
        _, writer = await asyncio.open_connection(client.server.host, client.server.port)
        writer.write(request)
        await writer.drain()
        await eventually(handler_began)
        writer.close()
        await writer.wait_closed()
        await eventually(handler_ended)
    await assert_nothing_stored(pool)


# --- per-record problems: the delivery loads, the bad part is rejected with its code ----------


def _codes(items: list[dict[str, Any]]) -> list[str]:
    return [i["code"] for i in items]


async def test_holdings_for_libraries_the_supplier_may_not_serve(client: TestClient, world: World,
                                                                 pool: asyncpg.Pool) -> None:
    body = collection(bib(), holding("Sods"), holding("Other"), holding("Unreg"), holding("Nope"),
                      holding(None))
    status, report = await deliver(client, world.supplier_token, body)
    assert status == 200, report
    assert report["status"] == "done"
    (entry,) = report["records"]
    assert entry["outcome"] == "created"
    got = {h["position"]: (h["sigel"], h["outcome"], _codes(h["errors"])) for h in entry["holdings"]}
    assert got == {
        2: ("Sods", "added", []),
        3: ("Other", "rejected", ["HOLDING_NOT_CUSTOMER"]),
        4: ("Unreg", "rejected", ["HOLDING_LIBRARY_UNREGISTERED"]),
        5: ("Nope", "rejected", ["HOLDING_UNKNOWN_LIBRARY"]),
        6: (None, "rejected", ["HOLDING_NO_SIGEL"]),
    }
    assert report["summary"]["holdings_added"] == 1
    assert report["summary"]["holdings_rejected"] == 4
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT sigel, bib_id FROM holdings")
        assert await conn.fetchval("SELECT count(*) FROM bib_records") == 1
    assert [(r["sigel"], str(r["bib_id"])) for r in rows] == [("Sods", entry["record_id"])]


async def test_bad_records_among_good_ones(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    body = collection(
        bib("g1", isbn="9789150222319", title="Bra bok"),
        bib("bad1", isbn="9789100000001", title=None),            # no 245
        holding("Sods"),                                           # belongs to the rejected record
        bib(None, isbn=None, title="Ingen identifierare"),         # nothing to match on
        '<record><leader>00000nam a2200000 i 4500</leader><datafield tag="245" ind1="0" ind2="0">'
        "<subfield>kod saknas</subfield></datafield></record>",  # unreadable: subfield without code
        bib("g2", isbn="9789100000018", title="Också bra"),
        holding("Li"),
    )
    status, report = await deliver(client, world.supplier_token, body)
    assert status == 200, report
    assert report["status"] == "done"
    by_pos = {r["position"]: r for r in report["records"]}
    assert by_pos[1]["outcome"] == "created"
    assert by_pos[1]["errors"] == []
    assert by_pos[2]["outcome"] == "rejected"
    assert _codes(by_pos[2]["errors"]) == ["MISSING_245"]
    assert by_pos[2]["record_id"] is None
    (h,) = by_pos[2]["holdings"]
    assert h["outcome"] == "rejected"
    assert _codes(h["errors"]) == ["HOLDING_PARENT_REJECTED"]
    assert by_pos[4]["outcome"] == "rejected"
    assert _codes(by_pos[4]["errors"]) == ["NO_IDENTIFIER"]
    assert by_pos[5]["outcome"] == "rejected"
    assert _codes(by_pos[5]["errors"]) == ["MARCXML_NO_CODE"]
    assert by_pos[6]["outcome"] == "created"
    assert [(x["sigel"], x["outcome"]) for x in by_pos[6]["holdings"]] == [("Li", "added")]
    s = report["summary"]
    assert (s["records"], s["created"], s["rejected"]) == (5, 2, 3)
    assert (s["holdings_added"], s["holdings_rejected"]) == (1, 1)
    async with pool.acquire() as conn:
        titles = sorted(r["summary"]["title"] for r in await conn.fetch("SELECT summary FROM bib_records"))
        holdings = await conn.fetch("SELECT sigel, bib_id FROM holdings")
    assert titles == ["Bra bok", "Också bra"]
    assert [(r["sigel"], str(r["bib_id"])) for r in holdings] == [("Li", by_pos[6]["record_id"])]


async def test_foreign_record_inside_a_marc_collection_is_rejected_alone(client: TestClient, world: World,
                                                                         pool: asyncpg.Pool) -> None:
    foreign = bib("f1").replace("<record ", '<x:record xmlns:x="http://example.org/x" ', 1)
    foreign = foreign.replace("</record>", "</x:record>")
    status, report = await deliver(client, world.supplier_token, collection(bib("g1"), foreign))
    assert status == 200, report
    by_pos = {r["position"]: r for r in report["records"]}
    assert by_pos[1]["outcome"] == "created"
    assert by_pos[2]["outcome"] == "rejected"
    assert _codes(by_pos[2]["errors"]) == ["MARCXML_FOREIGN_RECORD"]


async def test_badisbns_fixture_loads_with_isbn_warnings(client: TestClient, world: World,
                                                         pool: asyncpg.Pool) -> None:
    body = testdata("marc/badisbns.xml").read_bytes()
    status, report = await deliver(client, world.supplier_token, body)
    assert status == 200, report
    assert report["status"] == "done"
    records = report["records"]
    assert len(records) == 10
    assert all(r["outcome"] == "created" for r in records), [(r["position"], r["errors"]) for r in records]
    by_id = {r["supplier_id"]: r for r in records}
    # 020 $a 0553204300 is a valid ISBN-10: matched on as ISBN-13; "0553268473 (pbk.) :" too
    farthest = by_id["ocm25104511"]
    assert "isbn:9780553204308" in farthest["identifiers"]
    assert "isbn:9780553268478" in farthest["identifiers"]
    # 978184533213X: wrong check character, refused for matching with a warning; the $a forms agree
    millers = by_id["ocm69733027"]
    assert [i for i in millers["identifiers"] if i.startswith("isbn:")] == ["isbn:9781845332136"]
    assert {"ISBN_CHECK_DIGIT", "ISBN_INVALID"} & set(_codes(millers["warnings"]))
    # nothing usable as an ISBN at all: still loads, matched on its system number
    songs = by_id["ocm20612671"]
    assert not [i for i in songs["identifiers"] if i.startswith("isbn:")]
    assert "ISBN_INVALID" in _codes(songs["warnings"])
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bib_records") == 10
        isbns = await conn.fetchval("SELECT count(*) FROM bib_identifiers WHERE kind = 'isbn'")
    assert isbns == sum(1 for r in records for i in r["identifiers"] if i.startswith("isbn:"))
