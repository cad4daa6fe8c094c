"""SRU response documents for 1.1/1.2 (srw namespace) and 2.0 (OASIS namespaces).

Element order follows the schemas (``srw-types.xsd``; ``sruResponse.xsd`` and ``scan.xsd``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from protocols.sru.diagnostics import SRUDiagnostic
from protocols.sru.xmltext import Writer, attribute, text

SRW_NS = "http://www.loc.gov/zing/srw/"
SRW_DIAG_NS = "http://www.loc.gov/zing/srw/diagnostic/"
XCQL1_NS = "http://www.loc.gov/zing/cql/xcql/"
SRU2_NS = "http://docs.oasis-open.org/ns/search-ws/sruResponse"
SCAN2_NS = "http://docs.oasis-open.org/ns/search-ws/scan"
DIAG2_NS = "http://docs.oasis-open.org/ns/search-ws/diagnostic"
EXPLAIN_SCHEMA = "http://explain.z3950.org/dtd/2.0/"
EXACT_COUNT = "info:srw/vocabulary/resultCountPrecision/1/exact"


@dataclass(slots=True)
class RecordOut:
    schema: str          # schema identifier
    data: str            # XML fragment
    position: int


@dataclass(slots=True)
class ScanTermOut:
    value: str
    count: int
    display: str | None = None
    where: str | None = None     # first | last | only | inner


@dataclass(slots=True)
class Echo:
    """Echoed request parameters, in schema order; ``xml`` pieces are inserted verbatim."""

    items: list[tuple[str, str | int, bool]] = field(default_factory=list)

    def add(self, name: str, value: str | int | None) -> None:
        if value is not None:
            self.items.append((name, value, False))

    def add_xml(self, markup: str) -> None:
        self.items.append(("", markup, True))


def _start(w: Writer, stylesheet: str | None) -> None:
    w.raw('<?xml version="1.0" encoding="UTF-8"?>\n')
    if stylesheet:
        w.raw(f'<?xml-stylesheet type="text/xsl" href="{attribute(stylesheet)}"?>\n')


def _open_response(w: Writer, stylesheet: str | None, version: str, name: str, ns2: tuple[str, str]) -> str:
    """Open a response element in its version's namespace; returns the prefix (with colon).

    SRU 2.0 uses its own namespaces (``ns2``: prefix and URI); 1.1 and 1.2 share srw: and
    carry a version element first.
    """
    _start(w, stylesheet)
    if version == "2.0":
        prefix, uri = ns2
        w.open(f"{prefix}:{name}", {f"xmlns:{prefix}": uri})
        return f"{prefix}:"
    w.open(f"srw:{name}", {"xmlns:srw": SRW_NS})
    w.leaf("srw:version", version)
    return "srw:"


def _echo(w: Writer, tag: str, echo: Echo | None) -> None:
    if echo is None:
        return
    w.open(tag)
    for name, value, is_xml in echo.items:
        if is_xml:
            w.raw(str(value))
        else:
            w.leaf(f"{tag.split(':')[0]}:{name}", value)
    w.close(tag)


def _diagnostics(w: Writer, container: str, version: str, diagnostics: Sequence[SRUDiagnostic]) -> None:
    if not diagnostics:
        return
    ns = DIAG2_NS if version == "2.0" else SRW_DIAG_NS
    w.open(container)
    for diag in diagnostics:
        w.open("diag:diagnostic", {"xmlns:diag": ns})
        w.leaf("diag:uri", diag.uri)
        w.leaf("diag:details", diag.details)
        w.leaf("diag:message", diag.message)
        w.close("diag:diagnostic")
    w.close(container)


def _record(w: Writer, p: str, version: str, escaping: str, record: RecordOut) -> None:
    """One ``record`` element; its data as escaped text (``string``) or spliced in (``xml``)."""
    w.open(f"{p}record")
    w.leaf(f"{p}recordSchema", record.schema)
    w.leaf(f"{p}recordXMLEscaping" if version == "2.0" else f"{p}recordPacking", escaping)
    if escaping == "string":
        w.leaf(f"{p}recordData", record.data)
    else:
        w.open(f"{p}recordData")
        w.raw(record.data)
        w.close(f"{p}recordData")
    w.leaf(f"{p}recordPosition", record.position)
    w.close(f"{p}record")


def search_retrieve(
    version: str,
    *,
    total: int | None,
    records: Sequence[RecordOut] = (),
    escaping: str = "xml",
    next_position: int | None = None,
    echo: Echo | None = None,
    diagnostics: Sequence[SRUDiagnostic] = (),
    stylesheet: str | None = None,
) -> str:
    """searchRetrieveResponse. ``total`` None: a fatal diagnostic (1.x then says 0)."""
    w = Writer()
    p = _open_response(w, stylesheet, version, "searchRetrieveResponse", ("sru", SRU2_NS))
    w.leaf(f"{p}numberOfRecords", total if total is not None or version == "2.0" else 0)
    if records:
        w.open(f"{p}records")
        for record in records:
            _record(w, p, version, escaping, record)
        w.close(f"{p}records")
    w.leaf(f"{p}nextRecordPosition", next_position)
    _echo(w, f"{p}echoedSearchRetrieveRequest", echo)
    _diagnostics(w, f"{p}diagnostics", version, diagnostics)
    if version == "2.0" and total is not None:
        w.leaf(f"{p}resultCountPrecision", EXACT_COUNT)
    w.close(f"{p}searchRetrieveResponse")
    return str(w)


def scan(
    version: str,
    *,
    terms: Sequence[ScanTermOut] = (),
    echo: Echo | None = None,
    diagnostics: Sequence[SRUDiagnostic] = (),
    stylesheet: str | None = None,
) -> str:
    w = Writer()
    p = _open_response(w, stylesheet, version, "scanResponse", ("scan", SCAN2_NS))
    if terms:
        w.open(f"{p}terms")
        for term in terms:
            w.open(f"{p}term")
            w.leaf(f"{p}value", term.value)
            w.leaf(f"{p}numberOfRecords", term.count)
            w.leaf(f"{p}displayTerm", term.display)
            w.leaf(f"{p}whereInList", term.where)
            w.close(f"{p}term")
        w.close(f"{p}terms")
    _echo(w, f"{p}echoedScanRequest", echo)
    _diagnostics(w, f"{p}diagnostics", version, diagnostics)
    w.close(f"{p}scanResponse")
    return str(w)


def explain(
    version: str,
    record: str,
    *,
    escaping: str = "xml",
    diagnostics: Sequence[SRUDiagnostic] = (),
    stylesheet: str | None = None,
) -> str:
    w = Writer()
    p = _open_response(w, stylesheet, version, "explainResponse", ("sru", SRU2_NS))
    _record(w, p, version, escaping, RecordOut(EXPLAIN_SCHEMA, record, 1))
    _diagnostics(w, f"{p}diagnostics", version, diagnostics)
    w.close(f"{p}explainResponse")
    return str(w)


def search_clause_xcql(index: str, relation: str, term: str) -> str:
    """An SRU 1.x ``xScanClause`` (xcql searchClauseType) for a scan echo."""
    return (
        f'<srw:xScanClause xmlns:xcql="{XCQL1_NS}"><xcql:index>{text(index)}</xcql:index>'
        f"<xcql:relation><xcql:value>{text(relation)}</xcql:value></xcql:relation>"
        f"<xcql:term>{text(term)}</xcql:term></srw:xScanClause>"
    )
