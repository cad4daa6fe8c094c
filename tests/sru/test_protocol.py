"""Versions, operations, parameters, record schemas, explain, scan and every diagnostic."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from lxml import etree

from gateway.search.repository import PostgresBackend, create_search_pool
from protocols.sru import diagnostics as d
from protocols.sru.explain import ServiceInfo
from protocols.sru.service import SearchResult, SRUService
from tests.sru.conftest import NS, Endpoint, codes, number_of_records, record_ids, validate
from tests.sru.seed import Book, add_books

BOOKS = [
    Book(1, "Alpha & omega <1>", creators=["Öberg, Åke"], subjects=["Städer", "Hamnar"],
         isbns=["9173435015"], holdings=["S", "Mlm"]),
    Book(2, "Beta", creators=["Andersson, Karl"], subjects=["Hamnar"], isbns=["9100123455"]),
    Book(3, "Gamma", creators=["Öberg, Åke"], subjects=["Städer"]),
]


@pytest.fixture
async def books(pool: asyncpg.Pool) -> None:
    await add_books(pool, BOOKS)


# --- versions and operations --------------------------------------------------------------------

async def test_bare_get_is_explain_2_0(sru: Endpoint) -> None:
    root = await sru.get()
    assert root.tag == f"{{{NS['sru']}}}explainResponse"
    explain = root.find("sru:record/sru:recordData/zr:explain", NS)
    assert explain is not None
    assert explain.find("zr:searchInfo", NS) is not None


@pytest.mark.parametrize("version", ["1.1", "1.2"])
async def test_explain_1x(sru: Endpoint, version: str) -> None:
    root = await sru.get(version=version, operation="explain")
    assert root.tag == f"{{{NS['srw']}}}explainResponse"
    assert root.findtext("srw:version", namespaces=NS) == version
    explain = root.find("srw:record/srw:recordData/zr:explain", NS)
    assert explain is not None
    names = {
        f"{m.get('set')}.{m.text}" for m in explain.iterfind("zr:indexInfo/zr:index/zr:map/zr:name", NS)
    }
    for index in ("cql.serverChoice", "cql.keywords", "cql.allRecords", "dc.title", "dc.creator",
                  "dc.subject", "dc.publisher", "dc.date", "dc.identifier", "dc.language", "bath.isbn",
                  "bath.issn", "bath.standardIdentifier", "bath.possessingInstitution", "rec.id",
                  "rec.lastModified", "forvarv.supplier", "forvarv.encodingLevel"):
        assert index in names
    for index in explain.iterfind("zr:indexInfo/zr:index", NS):
        assert index.findtext("zr:title", namespaces=NS)
    schemas = {s.get("name"): s.get("identifier") for s in explain.iterfind("zr:schemaInfo/zr:schema", NS)}
    assert schemas["marcxml"] == "info:srw/schema/1/marcxml-v1.1"
    assert schemas["dc"] == "info:srw/schema/1/dc-v1.1"
    assert "marcxml-holdings" in schemas
    defaults = {e.get("type"): e.text for e in explain.iterfind("zr:configInfo/zr:default", NS)}
    assert defaults["numberOfRecords"] == "10"
    assert defaults["retrieveSchema"] == "marcxml"
    settings = {e.get("type"): e.text for e in explain.iterfind("zr:configInfo/zr:setting", NS)}
    assert settings["maximumRecords"] == "100"
    assert defaults["relation"] == "adj"  # a bare term, and = on a word index, is a phrase
    relations = {
        f"{i.find('zr:map/zr:name', NS).get('set')}.{i.findtext('zr:map/zr:name', namespaces=NS)}":
        [e.text for e in i.iterfind("zr:configInfo/zr:supports[@type='relation']", NS)]
        for i in explain.iterfind("zr:indexInfo/zr:index", NS)
    }
    assert relations["dc.title"] == ["=", "==", "all", "any", "adj"]
    assert relations["bath.isbn"] == ["=", "==", "any"]
    assert "within" in relations["dc.date"]


async def test_explain_as_string(sru: Endpoint) -> None:
    root = await sru.get(version="1.2", operation="explain", recordPacking="string")
    data = root.findtext("srw:record/srw:recordData", namespaces=NS)
    assert data is not None
    assert data.startswith("<explain")
    assert etree.fromstring(data.encode()).tag == f"{{{NS['zr']}}}explain"


@pytest.mark.usefixtures("books")
async def test_version_2_infers_the_operation_and_post_works(sru: Endpoint) -> None:
    root = await sru.get(query="beta")
    assert root.tag == f"{{{NS['sru']}}}searchRetrieveResponse"
    assert root.find("sru:version", NS) is None
    assert number_of_records(root) == 1
    assert (root.findtext("sru:resultCountPrecision", namespaces=NS) or "").endswith("/exact")
    root = await sru.get(scanClause="dc.title = a")
    assert root.tag == f"{{{NS['scan']}}}scanResponse"
    root = await sru.post(version="1.2", operation="searchRetrieve", query="gamma")
    assert record_ids(root) == [3]
    root = await sru.post(query="gamma", recordXMLEscaping="string")
    data = root.findtext("sru:records/sru:record/sru:recordData", namespaces=NS)
    assert data is not None
    assert "<controlfield tag=\"001\">3</controlfield>" in data


@pytest.mark.usefixtures("books")
async def test_echo_1_2_has_xcql(sru: Endpoint) -> None:
    root = await sru.get(version="1.2", operation="searchRetrieve", query="dc.title = beta or gamma",
                         startRecord=1, maximumRecords=5, recordSchema="dc", resultSetTTL=60,
                         stylesheet="http://example.org/sru.xsl", **{"x-info-debug": "1"})
    echo = root.find("srw:echoedSearchRetrieveRequest", NS)
    assert echo is not None
    assert echo.findtext("srw:query", namespaces=NS) == "dc.title = beta or gamma"
    assert echo.findtext("srw:xQuery/xcql:triple/xcql:boolean/xcql:value", namespaces=NS) == "or"
    assert echo.findtext("srw:resultSetTTL", namespaces=NS) == "60"
    assert echo.findtext("srw:stylesheet", namespaces=NS) == "http://example.org/sru.xsl"
    assert echo.findtext("srw:recordSchema", namespaces=NS) == "info:srw/schema/1/dc-v1.1"


async def test_stylesheet_processing_instruction(sru: Endpoint) -> None:
    assert sru.session is not None
    async with sru.session.get(sru.url, params={"stylesheet": "/s.xsl?a=1&b=\"2\""}) as response:
        body = await response.read()
    validate(body)
    assert b'<?xml-stylesheet type="text/xsl" href="/s.xsl?a=1&amp;b=&quot;2&quot;"?>' in body


# --- record schemas -------------------------------------------------------------------------------

@pytest.mark.usefixtures("books")
@pytest.mark.parametrize("name", ["marcxml", "info:srw/schema/1/marcxml-v1.1", "marc21", "MARC21-xml"])
async def test_marcxml_schema_names(sru: Endpoint, name: str) -> None:
    root = await sru.get(version="1.2", operation="searchRetrieve", query="beta", recordSchema=name)
    assert root.findtext(".//srw:recordSchema", namespaces=NS) == "info:srw/schema/1/marcxml-v1.1"
    assert record_ids(root) == [2]


@pytest.mark.usefixtures("books")
async def test_dublin_core(sru: Endpoint) -> None:
    root = await sru.get(version="1.2", operation="searchRetrieve", query="rec.id = 1", recordSchema="dc")
    dc = root.find(".//srw:recordData/srw_dc:dc", NS)
    assert dc is not None
    assert dc.findtext("dc:title", namespaces=NS) == "Alpha & omega <1>"
    assert dc.findtext("dc:creator", namespaces=NS) == "Öberg, Åke"
    assert [e.text for e in dc.iterfind("dc:subject", NS)] == ["Städer", "Hamnar"]
    assert dc.findtext("dc:identifier", namespaces=NS) == "urn:isbn:9789173435017"
    assert dc.findtext("dc:language", namespaces=NS) == "swe"
    root = await sru.get(query="rec.id = 1", recordSchema="info:srw/schema/1/dc-v1.1")  # 2.0
    assert root.find(".//sru:recordData/srw_dc:dc", NS) is not None


@pytest.mark.usefixtures("books")
async def test_holdings_embedded(sru: Endpoint) -> None:
    root = await sru.get(version="1.2", operation="searchRetrieve", query="rec.id = 1",
                         recordSchema="marcxml-holdings")
    record = root.find(".//srw:recordData/marc:record", NS)
    assert record is not None
    coded = {df.findtext("marc:subfield[@code='5']", namespaces=NS): df
             for df in record.iterfind("marc:datafield[@tag='841']", NS)}
    assert sorted(coded) == ["Mlm", "S"]
    assert coded["S"].findtext("marc:subfield[@code='a']", namespaces=NS) == "x"
    shelves = [(df.findtext("marc:subfield[@code='5']", namespaces=NS),
                df.findtext("marc:subfield[@code='b']", namespaces=NS))
               for df in record.iterfind("marc:datafield[@tag='852']", NS)]
    assert sorted(shelves) == [("Mlm", "Mlm"), ("S", "S")]
    root = await sru.get(version="1.2", operation="searchRetrieve", query="rec.id = 1")
    assert root.find(".//marc:datafield[@tag='841']", NS) is None  # plain marcxml has none


@pytest.mark.usefixtures("books")
async def test_record_packing_string(sru: Endpoint) -> None:
    root = await sru.get(version="1.1", operation="searchRetrieve", query="rec.id = 1",
                         recordPacking="string")
    data = root.findtext(".//srw:recordData", namespaces=NS)
    assert data is not None
    record = etree.fromstring(data.encode())
    assert record.findtext("marc:controlfield[@tag='001']", namespaces=NS) == "1"
    assert root.findtext(".//srw:recordPacking", namespaces=NS) == "string"


# --- scan ---------------------------------------------------------------------------------------

def scan_terms(root: etree._Element) -> list[tuple[str, int, str | None, str | None]]:
    p = "srw" if etree.QName(root).namespace == NS["srw"] else "scan"
    return [
        (t.findtext(f"{p}:value", namespaces=NS) or "",
         int(t.findtext(f"{p}:numberOfRecords", namespaces=NS) or 0),
         t.findtext(f"{p}:displayTerm", namespaces=NS), t.findtext(f"{p}:whereInList", namespaces=NS))
        for t in root.iterfind(f"{p}:terms/{p}:term", NS)
    ]


@pytest.mark.usefixtures("books")
async def test_scan_subjects_and_creators(sru: Endpoint) -> None:
    root = await sru.get(version="1.2", operation="scan", scanClause="dc.subject = a")
    assert scan_terms(root) == [("hamnar", 2, "Hamnar", "first"), ("stader", 2, "Städer", "last")]
    assert root.findtext("srw:echoedScanRequest/srw:xScanClause/xcql:index", namespaces=NS) == "dc.subject"
    root = await sru.get(version="1.2", operation="scan", scanClause="dc.creator = \"öberg\"",
                         responsePosition=2, maximumTerms=2)
    assert scan_terms(root) == [("andersson karl", 1, "Andersson, Karl", "first"),
                                ("oberg ake", 2, "Öberg, Åke", "last")]
    # every scanned value finds exactly its count
    root = await sru.get(version="1.2", operation="searchRetrieve", query="dc.creator == \"oberg ake\"")
    assert number_of_records(root) == 2


@pytest.mark.usefixtures("books")
async def test_scan_titles_isbn_and_positions(sru: Endpoint) -> None:
    root = await sru.get(scanClause="dc.title = beta", responsePosition=1, maximumTerms=1)
    assert scan_terms(root) == [("beta", 1, "Beta", "inner")]
    root = await sru.get(scanClause="dc.title = beta", responsePosition=0, maximumTerms=5)
    assert [(t[0], t[3]) for t in scan_terms(root)] == [("gamma", "last")]  # alpha and beta come before
    root = await sru.get(scanClause="dc.subject = hamnar", responsePosition=0)
    assert scan_terms(root) == [("stader", 2, "Städer", "last")]  # hamnar, left out, comes before
    root = await sru.get(scanClause="dc.subject = a", responsePosition=0)
    assert scan_terms(root) == [("hamnar", 2, "Hamnar", "first"), ("stader", 2, "Städer", "last")]
    root = await sru.get(version="1.1", operation="scan", scanClause="bath.isbn = 0", maximumTerms=5)
    assert scan_terms(root) == [("9789100123451", 1, "978-91-0-012345-1", "first"),
                                ("9789173435017", 1, "978-91-7343-501-7", "last")]
    root = await sru.get(version="1.2", operation="scan", scanClause="bath.isbn = 91-7343-501-5",
                         maximumTerms=1)
    assert scan_terms(root)[0][0] == "9789173435017"


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("dc.title = (x", 13, "Invalid or unsupported use of parentheses"),
        ("(dc.title = x))", 13, "Invalid or unsupported use of parentheses"),
        ("dc.title = \"x", 14, "Invalid or unsupported use of quotes"),
        ("a or " * 251 + "a", 38, "Too many boolean operators in query"),
        ("dc.title = ", 10, "Query syntax error"),
    ],
)
async def test_parser_diagnostics_carry_the_standard_message(
    sru: Endpoint, query: str, code: int, message: str
) -> None:
    for params in ({"version": "1.2", "operation": "searchRetrieve"}, {}):
        root = await sru.get(query=query, **params)
        assert codes(root) == [code]
        texts = [e.text for e in root.iterfind(".//diag:message", NS)]
        texts += [e.text for e in root.iterfind(".//diag2:message", NS)]
        assert texts == [message]


def test_every_parser_diagnostic_has_its_standard_wording() -> None:
    """Each code the CQL parser and its checks raise maps to a named SRU diagnostic."""
    from protocols.cql import errors

    parser_codes = {cls.code for cls in vars(errors).values()
                    if isinstance(cls, type) and issubclass(cls, errors.CQLError)}
    for code in parser_codes:
        assert d.diagnostic(code).message != f"Diagnostic {code}", code


@pytest.mark.usefixtures("books")
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"scanClause": "dc.publisher = x"}, 16),
        ({"scanClause": "dc.title any x"}, 19),
        ({"scanClause": "dc.title = xy*"}, 28),
        ({"scanClause": "dc.title = x*"}, 29),  # as in a search: one character before '*'
        ({"scanClause": "dc.title = x and dc.title = y"}, 10),
        ({"scanClause": "dc.title = x", "responsePosition": "5", "maximumTerms": "2"}, 120),
        ({"scanClause": "dc.title = x", "maximumTerms": "0"}, 6),
        ({"operation": "scan"}, 7),
    ],
)
async def test_scan_diagnostics(sru: Endpoint, params: dict[str, str], code: int) -> None:
    root = await sru.get(version="1.2", **{"operation": "scan", **params})
    assert root.tag == f"{{{NS['srw']}}}scanResponse"
    assert codes(root) == [code]


# --- diagnostics ----------------------------------------------------------------------------------

@pytest.mark.usefixtures("books")
@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("dc.title = ", 10),
        ("dc.title = (x", 13),
        ("dc.title = \"x", 14),
        ("foo.title = x", 15),
        ("> x = \"http://example.org/unknown\" x.title = y", 15),
        ("dc.nosuch = x", 16),
        ("dc.title encloses x", 19),
        ("dc.title < x", 19),
        ("bath.isbn > 91", 19),
        ("dc.title =/stem x", 20),
        ("dc.title =/respectCase x", 20),
        ("dc.title = \"\"", 27),
        ("dc.title = \"--\"", 27),
        ("dc.title = x?z", 28),
        ("bath.isbn = 91*", 28),
        ("dc.title = \"a*\"", 29),
        ("dc.creator = \"^strindberg\"", 31),
        ("dc.title = \"a^b\"", 32),
        ("dc.title = \"x ^y\"", 32),
        ("dc.date = 19x9", 36),
        ("rec.id = abc", 36),
        ("rec.lastModified > yesterday", 36),
        ("a prox b", 37),
        ("a and/rel.combine=sum b", 46),
        ("dc.title = *lund", 49),
        ("dc.title = ma*mo", 49),
        ("a sortBy dc.subject", 88),
        ("a sortBy dc.title/sort.respectCase", 91),
        ("a sortBy dc.title/sort.missingFail", 92),
    ],
)
async def test_query_diagnostics(sru: Endpoint, query: str, code: int) -> None:
    root = await sru.get(version="1.2", operation="searchRetrieve", query=query)
    assert codes(root) == [code], query
    assert number_of_records(root) == 0
    assert root.find("srw:records", NS) is None
    root = await sru.get(query=query)  # 2.0: the same diagnostic, no count on a fatal one
    assert codes(root) == [code]
    assert number_of_records(root) is None


@pytest.mark.usefixtures("books")
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"version": "1.2", "operation": "searchRetrieve"}, 7),
        ({"version": "1.2", "query": "x"}, 7),
        ({"version": "1.2", "operation": "frobnicate"}, 4),
        ({"version": "3.0", "query": "x"}, 5),
        ({"version": "1.0", "operation": "searchRetrieve", "query": "x"}, 5),
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x", "startRecord": "0"}, 6),
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x", "startRecord": "one"}, 6),
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x", "maximumRecords": "-1"}, 6),
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x", "sortKeys": "title"}, 8),
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x", "frobnicate": "1"}, 8),
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x", "recordSchema": "mods"}, 66),
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x", "recordPacking": "json"}, 71),
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x", "recordXPath": "/a"}, 72),
        ({"operation": "searchRetrieve", "query": "x", "recordXMLEscaping": "json"}, 71),
        ({"query": "x", "queryType": "searchTerms"}, 6),
        ({"query": "x", "sortKeys": "subject"}, 88),
        ({"query": "x", "sortKeys": "title,mods"}, 87),
        ({"query": "x", "sortKeys": "title,,up"}, 90),
        ({"query": "x", "sortKeys": "title,,1,1"}, 91),
        ({"query": "x", "sortKeys": "title,,1,0,abort"}, 92),
        ({"query": "x sortBy dc.title", "sortKeys": "title"}, 6),
    ],
)
async def test_parameter_diagnostics(sru: Endpoint, params: dict[str, str], code: int) -> None:
    root = await sru.get(**params)
    assert codes(root) == [code]


async def test_result_set_ttl_is_ignored(sru: Endpoint) -> None:
    root = await sru.get(version="1.2", operation="searchRetrieve", query="x", resultSetTTL="abc")
    assert codes(root) == []


async def test_statement_timeout_is_a_diagnostic(pool: asyncpg.Pool) -> None:
    backend = PostgresBackend(pool, timeout_ms=50)
    async with pool.acquire() as conn:
        with pytest.raises(d.GeneralSystemError, match="50 ms"):
            await backend._fetch(conn, "SELECT pg_sleep(5) AS sru_timeout_probe")
    async with pool.acquire() as conn:  # cancelled in the server, not left running
        running = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%sru_timeout_probe%' AND state = 'active'"
            " AND pid <> pg_backend_pid()")
    assert running == 0


async def test_search_pool_sessions(db_url: str) -> None:
    """The search pool's sessions: the server cancels a slow statement by itself; read-only."""
    pool = await create_search_pool(db_url, timeout_ms=50, size=1)
    try:
        backend = PostgresBackend(pool, timeout_ms=50, server_timeout=True)
        async with pool.acquire() as conn:
            with pytest.raises(d.GeneralSystemError, match="50 ms"):
                await backend._fetch(conn, "SELECT pg_sleep(5)")
            assert await conn.fetchval("SHOW statement_timeout") == "50ms"
            with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                await conn.execute("DELETE FROM bib_search")
        async with pool.acquire() as conn:  # the same session, no reset needed
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
    finally:
        await pool.close()


class SlowBackend(PostgresBackend):
    """The real backend, made slow by a real slow statement before each search."""

    async def search(self, *args: Any, **kwargs: Any) -> SearchResult:
        async with self.pool.acquire() as conn:
            await self._fetch(conn, "SELECT pg_sleep(2)")
        return await super().search(*args, **kwargs)


@pytest.mark.parametrize("version", ["1.2", "2.0"])
async def test_slow_search_answers_with_diagnostic_1(pool: asyncpg.Pool, version: str) -> None:
    service = SRUService(SlowBackend(pool, timeout_ms=50), ServiceInfo("127.0.0.1", 80, "sru"))
    body = await service.handle({"version": [version], "operation": ["searchRetrieve"], "query": ["x"]})
    root = validate(body.encode())
    assert codes(root) == [1]
    assert number_of_records(root) == (0 if version == "1.2" else None)
