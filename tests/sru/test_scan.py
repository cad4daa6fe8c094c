"""Scan: the start term is read as a search reads it, and responsePosition/maximumTerms as SRU says.

The protocol-layer tests drive :class:`SRUService` with a backend that records its calls (a
term rejected must never reach it); the HTTP tests use the real endpoint and database. Every
response body is validated against the official SRU 1.2 or 2.0 schema.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import pytest

from protocols.sru.explain import ServiceInfo
from protocols.sru.indexes import Index
from protocols.sru.query import Expr, SortKey
from protocols.sru.service import ScanResult, SearchResult, SRUService, scan_window
from tests.sru.conftest import NS, Endpoint, codes, diagnostics, validate
from tests.sru.seed import Book, add_books
from tests.sru.test_protocol import scan_terms

BOOKS = [
    Book(1, "Alpha", creators=["Öberg, Åke"], subjects=["Städer"]),
    Book(2, "Beta", creators=["Andersson, Karl"], subjects=["Hamnar"]),
    Book(3, "Gamma", creators=["Öberg, Åke"], subjects=["Städer"]),
]


class RecordingBackend:
    """Answers every search with no hits and every scan with no terms; keeps the scan calls."""

    def __init__(self) -> None:
        self.scans: list[tuple[str, str, int, int, bool]] = []

    async def search(
        self, expr: Expr, sort: Sequence[SortKey], offset: int, limit: int, *, holdings: bool,
        summary: bool = True,
    ) -> SearchResult:
        return SearchResult(0)

    async def scan(self, index: Index, term: str, before: int, after: int, *, inclusive: bool) -> ScanResult:
        self.scans.append((index.qualified, term, before, after, inclusive))
        return ScanResult([], [])


def service(backend: RecordingBackend, max_terms: int = 100) -> SRUService:
    return SRUService(backend, ServiceInfo("127.0.0.1", 80, "sru", max_terms=max_terms))


async def ask(svc: SRUService, version: str, **params: str) -> list[str]:
    """The diagnostic URIs of the (schema-checked) response to a request."""
    request = {name: [value] for name, value in params.items()}
    if version != "2.0":
        request["version"] = [version]
    body = await svc.handle(request)
    return diagnostics(validate(body.encode()))


def uri(code: int) -> str:
    return f"info:srw/diagnostic/1/{code}"


# Terms a search rejects: scan must give the same diagnostic, not 1 or a scan-only one.
BAD_TERMS = [
    ("dc.title = a^b", 32),               # '^' inside a word
    ("dc.title = \"x ^y\"", 32),          # '^' starting a word that is not the first
    ("dc.title = \"x^ y\"", 32),          # '^' ending a word that is not the last
    ("dc.title == \"a^b\"", 32),
    ("dc.creator = Öb^erg", 32),
    ("bath.isbn = 91^7", 32),             # an identifier index: the same reading
    ("dc.title = x?z", 28),
    ("bath.isbn = 91*", 28),
    ("dc.title = \"a*\"", 29),            # too short before the star
    ("dc.subject = \"hamnar s*\"", 29),
    ("dc.title = \"*\"", 49),
    ("dc.title = *lund", 49),
    ("dc.title = ma*mo", 49),
    ("dc.creator = \"^oberg\"", 31),      # no anchoring on creators at all
    ("dc.subject = \"stader^\"", 31),
]


@pytest.mark.parametrize("version", ["1.2", "2.0"])
@pytest.mark.parametrize(("clause", "code"), BAD_TERMS)
async def test_scan_gives_the_search_diagnostic(clause: str, code: int, version: str) -> None:
    backend = RecordingBackend()
    svc = service(backend)
    searched = await ask(svc, version, operation="searchRetrieve", query=clause)
    scanned = await ask(svc, version, operation="scan", scanClause=clause)
    assert searched == [uri(code)]
    assert scanned == searched
    assert backend.scans == []


# Terms a search accepts with masking or anchoring: scan starts from one term, so 28 and 31.
SEARCH_ONLY = [
    ("dc.title = malm*", 28),
    ("dc.title = \"ab* cd^\"", 28),
    ("dc.title = \"^alpha\"", 31),
    ("dc.title = \"alpha^\"", 31),
    ("dc.title = \"alpha^ \"", 31),       # anchored at the end of its last word
    ("dc.title = \" ^alpha\"", 31),
]


@pytest.mark.parametrize(("clause", "code"), SEARCH_ONLY)
async def test_scan_rejects_masking_and_anchoring(clause: str, code: int) -> None:
    backend = RecordingBackend()
    svc = service(backend)
    assert await ask(svc, "1.2", operation="searchRetrieve", query=clause) == []
    assert await ask(svc, "1.2", operation="scan", scanClause=clause) == [uri(code)]
    assert await ask(svc, "2.0", scanClause=clause) == [uri(code)]
    assert backend.scans == []


@pytest.mark.parametrize(
    ("clause", "term"),
    [
        ("dc.title = \"\"", ""),              # the empty term: the start of the index
        ("dc.title = \"--\"", "--"),
        ("dc.title = \"a\\^b\"", "a^b"),      # escaped: a literal caret
        ("dc.subject = \"x\\*\"", "x*"),
        ("dc.creator == \"öberg, åke\"", "öberg, åke"),
    ],
)
async def test_plain_scan_terms_reach_the_backend(clause: str, term: str) -> None:
    backend = RecordingBackend()
    assert await ask(service(backend), "1.2", operation="scan", scanClause=clause) == []
    assert [call[1] for call in backend.scans] == [term]


# --- responsePosition and maximumTerms -----------------------------------------------------------

@pytest.mark.parametrize(
    ("position", "maximum", "cap", "window"),
    [
        (1, 20, 100, (0, 20)),
        (0, 20, 100, (0, 20)),
        (21, 20, 100, (20, 0)),
        (5, 20, 100, (4, 16)),
        (1, 500, 100, (0, 100)),
        (0, 500, 100, (0, 100)),
        (501, 500, 100, (100, 0)),
        (2, 500, 100, (1, 99)),               # the one term before it is kept
        (250, 500, 100, (50, 50)),
        (480, 500, 100, (79, 21)),
    ],
)
def test_scan_window(position: int, maximum: int, cap: int, window: tuple[int, int]) -> None:
    assert scan_window(position, maximum, cap) == window


async def test_response_position_is_checked_against_the_terms_asked_for() -> None:
    """SRU: responsePosition ranges over 0 .. maximumTerms + 1 as requested; a server that
    returns fewer terms than asked (its cap) must not turn a valid position into 120."""
    backend = RecordingBackend()
    svc = service(backend, max_terms=10)
    params = {"operation": "scan", "scanClause": "dc.title = m"}
    assert await ask(svc, "1.2", **params, maximumTerms="30", responsePosition="31") == []
    assert await ask(svc, "1.2", **params, maximumTerms="30", responsePosition="15") == []
    assert backend.scans == [("dc.title", "m", 10, 0, True), ("dc.title", "m", 5, 5, True)]
    assert await ask(svc, "1.2", **params, maximumTerms="30", responsePosition="32") == [uri(120)]


@pytest.mark.parametrize(("params", "code"), [
    ({"responsePosition": "one"}, 6),
    ({"responsePosition": "-1"}, 6),          # not a nonNegativeInteger, the parameter's type
    ({"maximumTerms": "0"}, 6),
    ({"maximumTerms": "-3"}, 6),
    ({"scanClause": ""}, 10),                 # as an empty query in searchRetrieve
    ({"scanClause": "dc.title = m sortBy dc.title"}, 10),
    ({"scanClause": "dc.date = 2001"}, 16),   # an index that cannot be scanned
    ({"scanClause": "dc.nosuch = m"}, 16),
    ({"scanClause": "nosuch.title = m"}, 15),
    ({"scanClause": "dc.title >= m"}, 19),    # range relations are prohibited in scan
    ({"scanClause": "dc.title all m"}, 19),
])
async def test_scan_parameter_diagnostics(params: dict[str, str], code: int) -> None:
    backend = RecordingBackend()
    request = {"operation": "scan", "scanClause": "dc.title = m", **params}
    assert await ask(service(backend), "1.2", **request) == [uri(code)]
    assert backend.scans == []


# --- over HTTP, against the database ------------------------------------------------------------

@pytest.fixture
async def books(pool: asyncpg.Pool) -> None:
    await add_books(pool, BOOKS)


@pytest.mark.usefixtures("books")
@pytest.mark.parametrize(("clause", "code"), [
    ("dc.title = a^b", 32), ("dc.title = \"x ^y\"", 32), ("bath.isbn = 91^7", 32),
    ("dc.title = ma*mo", 49), ("dc.title = \"a*\"", 29), ("dc.title = x?z", 28),
    ("dc.creator = \"^oberg\"", 31), ("dc.title = \"^alpha\"", 31),
])
async def test_scan_term_diagnostics_over_http(sru: Endpoint, clause: str, code: int) -> None:
    root = await sru.get(version="1.2", operation="scan", scanClause=clause)   # validated
    assert root.tag == f"{{{NS['srw']}}}scanResponse"
    assert diagnostics(root) == [uri(code)]
    assert root.find("srw:terms", NS) is None
    root = await sru.get(scanClause=clause)                                      # 2.0, validated
    assert root.tag == f"{{{NS['scan']}}}scanResponse"
    assert diagnostics(root) == [uri(code)]


@pytest.mark.usefixtures("books")
async def test_position_beyond_the_cap_over_http(sru: Endpoint) -> None:
    """maximumTerms above the server's cap (100): the position still counts from the request."""
    root = await sru.get(version="1.2", operation="scan", scanClause="dc.title = gamma",
                         maximumTerms=150, responsePosition=151)
    assert codes(root) == []
    assert scan_terms(root) == [("alpha", 1, "Alpha", "first"), ("beta", 1, "Beta", "inner")]
    assert root.findtext("srw:echoedScanRequest/srw:maximumTerms", namespaces=NS) == "150"
    root = await sru.get(scanClause="dc.title = gamma", maximumTerms=150, responsePosition=152)
    assert codes(root) == [120]
