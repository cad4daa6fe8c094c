"""SRU 1.1/1.2 over SOAP (SRW), as yaz-client speaks it out of the box, and everything else a POST
can carry: an answer in an envelope, a diagnostic or a SOAP fault, never a silent explain.

Every SRU response inside an envelope is schema-checked by the fixture (tests/sru/conftest.py).
"""

from __future__ import annotations

import asyncpg
import pytest
from lxml import etree

from tests.sru.conftest import NS, SOAP_NS, Endpoint, codes, number_of_records, record_ids, validate
from tests.sru.seed import Book, add_books
from tests.sru.test_clients import run

BOOKS = [
    Book(1, "Malmö : en stad", creators=["Ström, Åsa"], subjects=["Städer"], isbns=["9173435015"], year="2019",
         holdings=["S"]),
    Book(2, "Röda rummet", creators=["Strindberg, August"], subjects=["Stockholm"], year="1879"),
    Book(3, "Hemsöborna", creators=["Strindberg, August"], subjects=["Skärgården"], year="1887"),
]


@pytest.fixture
async def books(pool: asyncpg.Pool) -> None:
    await add_books(pool, BOOKS)


def envelope(request: str, ns: str = SOAP_NS, header: str = "") -> bytes:
    return (f'<?xml version="1.0"?><S:Envelope xmlns:S="{ns}">{header}<S:Body>{request}</S:Body>'
            "</S:Envelope>").encode()


def srw(name: str, *params: tuple[str, str]) -> str:
    inner = "".join(f"<zs:{k}>{v}</zs:{k}>" for k, v in params)
    return f'<zs:{name} xmlns:zs="http://www.loc.gov/zing/srw/">{inner}</zs:{name}>'


async def post(sru: Endpoint, body: bytes, content_type: str = "text/xml",
               status: int = 200) -> etree._Element:
    """POST a body; the validated SRU response out of its envelope (or the Fault)."""
    assert sru.session is not None
    async with sru.session.post(sru.url, data=body, headers={"Content-Type": content_type,
                                                             "SOAPAction": '""'}) as response:
        got = await response.read()
        assert response.status == status, got
        if status in (200, 500, 413):
            assert response.content_type == "text/xml"
    return validate(got)


def fault(root: etree._Element) -> tuple[str, str]:
    assert root.tag == f"{{{SOAP_NS}}}Fault"
    return root.findtext("faultcode") or "", root.findtext("faultstring") or ""


# --- yaz-client in its default mode (SOAP) ----------------------------------------------------------

@pytest.mark.clients
@pytest.mark.usefixtures("books")
async def test_yaz_client_default_soap_mode(sru: Endpoint) -> None:
    out = await run("yaz-client", [
        f"open {sru.url}", "find dc.creator = strindberg", "show 1",
        "find dc.title = malmö", "find dc.nosuch = x", "scan dc.title = h", "explain",
    ])
    assert "Received SRW SearchRetrieve Response" in out
    assert "Number of hits: 2" in out
    assert "Number of hits: 1" in out
    assert '<controlfield tag="001">2</controlfield>' in out  # show 1 of strindberg, in id order
    assert "SRW diagnostic info:srw/diagnostic/1/16" in out
    assert "Received SRW Scan Response" in out
    assert "Hemsöborna: 1" in out
    assert '<name set="bath">possessingInstitution</name>' in out
    assert len(sru.bodies) >= 6
    assert all(body.lstrip().startswith(b"<?xml") and SOAP_NS.encode() in body for body in sru.bodies)


# --- the three requests ------------------------------------------------------------------------------

@pytest.mark.usefixtures("books")
@pytest.mark.parametrize("version", ["1.1", "1.2"])
async def test_search_retrieve(sru: Endpoint, version: str) -> None:
    root = await post(sru, envelope(srw("searchRetrieveRequest", ("version", version),
                                        ("query", "dc.creator = strindberg"), ("startRecord", "2"),
                                        ("maximumRecords", "5"), ("recordSchema", "marcxml"))))
    assert root.tag == f"{{{NS['srw']}}}searchRetrieveResponse"
    assert root.findtext("srw:version", namespaces=NS) == version
    assert number_of_records(root) == 2
    assert record_ids(root) == [3]
    assert root.findtext("srw:echoedSearchRetrieveRequest/srw:query", namespaces=NS) == "dc.creator = strindberg"


@pytest.mark.usefixtures("books")
async def test_scan_and_explain(sru: Endpoint) -> None:
    root = await post(sru, envelope(srw("scanRequest", ("version", "1.2"), ("scanClause", "dc.subject = s"),
                                        ("maximumTerms", "2"))))
    assert root.tag == f"{{{NS['srw']}}}scanResponse"
    assert [t.text for t in root.iterfind("srw:terms/srw:term/srw:value", NS)] == ["skargarden", "stader"]
    root = await post(sru, envelope(srw("explainRequest", ("version", "1.1"))))
    assert root.tag == f"{{{NS['srw']}}}explainResponse"
    assert root.find("srw:record/srw:recordData/zr:explain", NS) is not None


@pytest.mark.usefixtures("books")
async def test_without_version_is_1_2_and_extension_data_is_ignored(sru: Endpoint) -> None:
    request = srw("searchRetrieveRequest", ("query", "hemsöborna")).replace(
        "</zs:searchRetrieveRequest>", "<zs:extraRequestData><x:y xmlns:x='urn:x'>1</x:y></zs:extraRequestData>"
        "</zs:searchRetrieveRequest>")
    root = await post(sru, envelope(request))
    assert root.findtext("srw:version", namespaces=NS) == "1.2"
    assert record_ids(root) == [3]


# --- what cannot be served: diagnostics in the operation's response ---------------------------------

@pytest.mark.usefixtures("books")
@pytest.mark.parametrize(
    ("request_xml", "response", "code"),
    [
        (srw("searchRetrieveRequest", ("version", "1.2"), ("query", "dc.title = (x")), "searchRetrieveResponse", 13),
        (srw("searchRetrieveRequest", ("version", "1.2")), "searchRetrieveResponse", 7),
        (srw("searchRetrieveRequest", ("version", "1.2"), ("query", "x"), ("frobnicate", "1")),
         "searchRetrieveResponse", 8),
        (srw("searchRetrieveRequest", ("version", "2.0"), ("query", "x")), "searchRetrieveResponse", 5),
        (srw("searchRetrieveRequest", ("version", "1.2"), ("query", "x"), ("recordSchema", "mods")),
         "searchRetrieveResponse", 66),
        (srw("scanRequest", ("version", "1.2"), ("scanClause", "dc.subject = s"), ("nosuch", "1")), "scanResponse", 8),
        (srw("scanRequest", ("version", "1.2"), ("scanClause", "dc.date = 1")), "scanResponse", 16),
        (srw("scanRequest", ("version", "2.0"), ("scanClause", "dc.subject = s")), "scanResponse", 5),
        (srw("explainRequest", ("version", "1.2"), ("recordPacking", "json")), "explainResponse", 71),
    ],
)
async def test_diagnostics(sru: Endpoint, request_xml: str, response: str, code: int) -> None:
    root = await post(sru, envelope(request_xml))
    assert root.tag == f"{{{NS['srw']}}}{response}"
    assert codes(root) == [code]


# --- what is not an SRW request: SOAP faults -------------------------------------------------------

_SEARCH = srw("searchRetrieveRequest", ("version", "1.2"), ("query", "x"))


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (b"<not-xml", "Client", "not well-formed"),
        (b"<foo/>", "Client", "not a SOAP envelope"),
        (envelope(_SEARCH, ns="http://www.w3.org/2003/05/soap-envelope"), "VersionMismatch", "SOAP 1.1"),
        (envelope(""), "Client", "exactly one SRU request"),
        (envelope(_SEARCH + _SEARCH), "Client", "exactly one SRU request"),
        (envelope('<u:updateRequest xmlns:u="http://www.loc.gov/zing/srw/update/"/>'), "Client",
         "unsupported request 'updateRequest'"),
        (envelope('<zs:updateRequest xmlns:zs="http://www.loc.gov/zing/srw/"/>'), "Client", "unsupported request"),
        (envelope(srw("searchRetrieveRequest", ("version", "1.2"), ("query", "<b>x</b>"))), "Client", "must hold text"),
        (envelope(srw("searchRetrieveRequest", ("operation", "scan"), ("query", "x"))), "Client", "'operation'"),
        (envelope(_SEARCH, header='<S:Header><t:tx xmlns:t="urn:t" S:mustUnderstand="1">5</t:tx></S:Header>'),
         "MustUnderstand", "'tx'"),
        (f'<S:Envelope xmlns:S="{SOAP_NS}"><S:Header/></S:Envelope>'.encode(), "Client", "no Body"),
    ],
)
async def test_faults(sru: Endpoint, body: bytes, code: str, reason: str) -> None:
    got_code, got_reason = fault(await post(sru, body, status=500))
    assert got_code == f"SOAP-ENV:{code}"
    assert reason in got_reason


async def test_a_header_that_need_not_be_understood_is_ignored(sru: Endpoint) -> None:
    header = '<S:Header><t:tx xmlns:t="urn:t" S:mustUnderstand="0">5</t:tx></S:Header>'
    root = await post(sru, envelope(_SEARCH, header=header))
    assert number_of_records(root) == 0


async def test_no_entity_is_expanded_and_no_file_read(sru: Endpoint) -> None:
    """External and internal entities: a document type declaration is refused outright."""
    for doctype in ('<!DOCTYPE S:Envelope [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
                    '<!DOCTYPE S:Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'):
        body = envelope(srw("searchRetrieveRequest", ("version", "1.2"), ("query", "&e;&b;")))
        body = body.replace(b"<S:Envelope", doctype.encode() + b"<S:Envelope", 1)
        got_code, got_reason = fault(await post(sru, body, status=500))
        assert got_code == "SOAP-ENV:Client"
        assert "document type declaration" in got_reason
        assert "root:" not in got_reason


async def test_envelope_size_is_bounded(sru: Endpoint) -> None:
    big = envelope(srw("searchRetrieveRequest", ("version", "1.2"), ("query", "x" * 70_000)))
    got_code, got_reason = fault(await post(sru, big, status=413))
    assert "larger than" in got_reason
    assert got_code == "SOAP-ENV:Client"

    async def chunks():  # no Content-Length: the bound holds while reading
        for _ in range(40):
            yield b" " * 4096
    assert sru.session is not None
    async with sru.session.post(sru.url, data=chunks(), headers={"Content-Type": "text/xml"}) as response:
        assert response.status == 413
        fault(validate(await response.read()))


async def test_other_post_bodies_get_a_diagnostic_not_an_explain(sru: Endpoint) -> None:
    root = await post(sru, b'{"query": "x"}', content_type="application/json", status=415)
    assert root.tag == f"{{{NS['sru']}}}searchRetrieveResponse"
    assert codes(root) == [6]
    assert sru.session is not None
    async with sru.session.post(sru.url, params={"version": "1.2", "operation": "scan"}, data=b"x",
                                headers={"Content-Type": "text/plain"}) as response:
        assert response.status == 415
        root = validate(await response.read())
    assert root.tag == f"{{{NS['srw']}}}scanResponse"
    assert codes(root) == [6]


async def test_a_get_refused_before_its_operation_runs_answers_as_that_operation(sru: Endpoint) -> None:
    root = await sru.get(version="1.2", operation="scan", scanClause="dc.title = a", frobnicate="1")
    assert root.tag == f"{{{NS['srw']}}}scanResponse"
    assert codes(root) == [8]
    root = await sru.get(version="1.2", operation="explain", frobnicate="1")
    assert root.tag == f"{{{NS['srw']}}}explainResponse"
    assert codes(root) == [8]
