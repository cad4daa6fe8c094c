"""The SRU service: request parameters in, response document out; storage behind a Protocol.

:class:`SRUService` checks the request, parses and resolves the CQL, asks a
:class:`SearchBackend` for hits or scan terms and writes the response for the version
asked for. It holds no SQL and no HTTP: ``gateway.search`` supplies both.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from protocols import cql
from protocols.sru import diagnostics as d
from protocols.sru import params as p
from protocols.sru import responses
from protocols.sru.explain import ServiceInfo, explain_record
from protocols.sru.indexes import Index
from protocols.sru.query import Expr, SortKey, resolve, resolve_scan_clause, sort_keys_parameter
from protocols.sru.records import SCHEMAS, StoredRecord, find_schema, render
from protocols.sru.xquery import xquery

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SearchResult:
    total: int
    records: list[StoredRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ScanTerm:
    value: str
    count: int
    display: str | None = None


@dataclass(slots=True)
class ScanResult:
    before: list[ScanTerm]       # terms before the start term, in index order
    after: list[ScanTerm]        # the start term (if present) and those after it
    more_before: bool = False    # the index has terms before ``before``
    more_after: bool = False     # the index has terms after ``after``


class SearchBackend(Protocol):
    async def search(
        self, expr: Expr, sort: Sequence[SortKey], offset: int, limit: int, *, holdings: bool,
        summary: bool = True,
    ) -> SearchResult:
        """The number of hits and the records at [offset, offset + limit) in ``sort`` order.

        ``holdings``: fill in the records' live holdings; ``summary``: their summaries (else
        they may be left empty).

        Raises an :class:`~protocols.sru.diagnostics.SRUDiagnostic` (e.g. when the query
        takes too long)."""
        ...

    async def scan(self, index: Index, term: str, before: int, after: int, *, inclusive: bool) -> ScanResult:
        """Up to ``before`` terms below ``term`` and ``after`` terms from it on (or above it)."""
        ...


class Memo(Protocol):
    """Response documents kept for requests asked again while the data is unchanged (the
    gateway's is gateway.search.cache.ResultCache)."""

    def stamp(self) -> int | None:
        """Taken before the data is read: the data's version now, or None when nothing may be
        kept or recalled at the moment."""
        ...

    def recall(self, key: Hashable) -> str | None:
        """The document kept for ``key``, if the data has not changed since."""
        ...

    def remember(self, stamp: int, key: Hashable, document: str) -> None:
        """Keep ``document``, written from data read after ``stamp`` was taken (dropped if the
        data changed since)."""
        ...


_SCHEMAS_BY_NAME = {schema.name: schema for schema in SCHEMAS}
#: The versions SRU's SOAP binding (SRW) has.
SOAP_VERSIONS = ("1.1", "1.2")


def _parse_cql(text: str) -> cql.Query:
    """The parsed query, or the SRU diagnostic the parser names (with the offset in the details)."""
    try:
        return cql.parse(text)
    except cql.CQLError as e:
        raise d.diagnostic(e.code, f"{e.message} (at offset {e.position})") from e


class SRUService:
    """``memo``: searchRetrieve documents answered without a diagnostic are kept there, by the
    request's parameters (a response is a function of them and of the data)."""

    def __init__(self, backend: SearchBackend, info: ServiceInfo, memo: Memo | None = None) -> None:
        self.backend = backend
        self.info = info
        self.memo = memo
        self._explain: dict[tuple[str, str], str] = {}

    async def handle(self, params: Mapping[str, Sequence[str]], *, soap: bool = False) -> str:
        """The response document (XML text) for a request's parameters.

        ``soap``: the request came in a SOAP envelope (:mod:`protocols.sru.soap`), a binding of
        SRU 1.1 and 1.2 only; the caller wraps the document."""
        values = p.first_values(params)
        memo, stamp, key = self.memo, None, None
        if memo is not None and (stamp := memo.stamp()) is not None:
            key = ("sru", soap, *sorted(values.items()))
            kept = memo.recall(key)
            if kept is not None:
                return kept
        stylesheet = values.get("stylesheet") or None
        if stylesheet and "?>" in stylesheet:
            stylesheet = None
        named = values.get("operation")
        operation = named if named in p.OPERATIONS else "searchRetrieve"
        requested = values.get("version")
        if soap and requested not in SOAP_VERSIONS:
            failure = d.UnsupportedVersion(f"{requested}; the SOAP binding is SRU {' and '.join(SOAP_VERSIONS)}")
            return self._failure(operation, SOAP_VERSIONS[-1], failure, stylesheet)
        try:
            request = p.parse_request(values)
        except d.SRUDiagnostic as e:
            # Answered as the operation asked for, when it is one; else as a searchRetrieve.
            return self._failure(operation, p.response_version(requested), e, stylesheet)
        try:
            if request.operation == "explain":
                return self.explain(request, stylesheet)
            if request.operation == "scan":
                return await self.scan(request, stylesheet)
            document, lasting = await self._search_retrieve(request, stylesheet)
        except Exception as e:  # a bug or an unreachable database: a diagnostic, never a hang
            log.exception("SRU %s failed", request.operation)
            return self._failure(request.operation, request.version, d.GeneralSystemError(type(e).__name__),
                                 stylesheet)
        if memo is not None and stamp is not None and lasting:
            memo.remember(stamp, key, document)
        return document

    def refuse(self, params: Mapping[str, Sequence[str]], failure: d.SRUDiagnostic) -> str:
        """The response to a request refused before its parameters are read (e.g. a POST body of
        a type the binding does not know): the diagnostic, in the operation's response."""
        values = p.first_values(params)
        named = values.get("operation")
        return self._failure(named if named in p.OPERATIONS else "searchRetrieve",
                             p.response_version(values.get("version")), failure, None)

    def _failure(self, operation: str, version: str, failure: d.SRUDiagnostic, stylesheet: str | None) -> str:
        """The response of ``operation`` carrying a fatal diagnostic."""
        if operation == "scan":
            return responses.scan(version, diagnostics=[failure], stylesheet=stylesheet)
        if operation == "explain":
            return responses.explain(version, self._record(version), diagnostics=[failure],
                                     stylesheet=stylesheet)
        return responses.search_retrieve(version, total=None, diagnostics=[failure], stylesheet=stylesheet)

    # --- explain ------------------------------------------------------------------------------
    def explain(self, request: p.Request, stylesheet: str | None) -> str:
        try:
            escaping = p.xml_escaping(request)
        except d.SRUDiagnostic as e:
            return responses.explain(request.version, self._record(request.version), diagnostics=[e],
                                     stylesheet=stylesheet)
        key = (request.version, escaping)
        if stylesheet is None and key in self._explain:
            return self._explain[key]
        body = responses.explain(request.version, self._record(request.version), escaping=escaping,
                                 stylesheet=stylesheet)
        if stylesheet is None:
            self._explain[key] = body
        return body

    def _record(self, version: str) -> str:
        return explain_record(self.info, version)

    # --- searchRetrieve -----------------------------------------------------------------------
    async def search_retrieve(self, request: p.Request, stylesheet: str | None) -> str:
        return (await self._search_retrieve(request, stylesheet))[0]

    async def _search_retrieve(self, request: p.Request, stylesheet: str | None) -> tuple[str, bool]:
        """The document, and whether it may be kept (no diagnostic: those may be passing)."""
        version = request.version
        echo: responses.Echo | None = None
        try:
            query_text = request.get("query")
            if query_text is None:
                raise d.MandatoryParameterNotSupplied("query")
            query_type = request.get("queryType")
            if query_type not in (None, "", "cql"):
                raise d.UnsupportedParameterValue(f"queryType {query_type!r}")
            start = p.integer(request, "startRecord", 1, 1)
            maximum = min(p.integer(request, "maximumRecords", self.info.default_records, 0),
                          self.info.max_records)
            schema = find_schema(request.get("recordSchema"))
            escaping = p.xml_escaping(request)
            if request.get("recordXPath"):
                raise d.XPathUnsupported(request.get("recordXPath"))
            sort_param = request.get("sortKeys") or ""
            parsed = _parse_cql(query_text)
            echo = self._search_echo(request, parsed, start, maximum, escaping, schema.identifier,
                                     sort_param, stylesheet)
            expr, sort = resolve(parsed)
            if sort_param.strip():
                if sort:
                    raise d.UnsupportedParameterValue("sortKeys together with a CQL sortBy")
                sort = sort_keys_parameter(sort_param, _SCHEMAS_BY_NAME)
            result = await self.backend.search(expr, sort, start - 1, maximum, holdings=schema.holdings,
                                               summary=schema.summary)
        except d.SRUDiagnostic as e:
            return responses.search_retrieve(version, total=None, echo=echo, diagnostics=[e],
                                             stylesheet=stylesheet), False
        records = [
            responses.RecordOut(schema.identifier, render(schema, record), start + n)
            for n, record in enumerate(result.records)
        ]
        diagnostics: list[d.SRUDiagnostic] = []
        if result.total > 0 and start > result.total:
            diagnostics.append(d.FirstRecordOutOfRange(f"startRecord {start} > {result.total} records"))
        following = start + len(records)
        next_position = following if following <= result.total and start <= result.total else None
        return responses.search_retrieve(
            version, total=result.total, records=records, escaping=escaping, next_position=next_position,
            echo=echo, diagnostics=diagnostics, stylesheet=stylesheet,
        ), not diagnostics

    def _search_echo(
        self, request: p.Request, parsed: cql.Query, start: int, maximum: int, escaping: str,
        schema: str, sort_param: str, stylesheet: str | None,
    ) -> responses.Echo:
        echo = responses.Echo()
        version = request.version
        echo.add("version", version)
        echo.add("query", request.get("query"))
        if version != "2.0":
            echo.add_xml(xquery(parsed))
        echo.add("startRecord", start)
        echo.add("maximumRecords", maximum)
        if version == "2.0":
            echo.add("recordXMLEscaping", escaping)
        else:
            echo.add("recordPacking", escaping)
        echo.add("recordSchema", schema)
        ttl = request.get("resultSetTTL")
        if ttl is not None and ttl.strip().isdigit():
            echo.add("resultSetTTL", int(ttl))
        if sort_param.strip():
            echo.add("sortKeys", sort_param)
        echo.add("stylesheet", stylesheet)
        return echo

    # --- scan ---------------------------------------------------------------------------------
    async def scan(self, request: p.Request, stylesheet: str | None) -> str:
        version = request.version
        echo: responses.Echo | None = None
        try:
            clause = request.get("scanClause")
            if clause is None:
                raise d.MandatoryParameterNotSupplied("scanClause")
            position = p.integer(request, "responsePosition", 1, 0)
            maximum = p.integer(request, "maximumTerms", self.info.default_terms, 1)
            parsed = _parse_cql(clause)
            index, term, relation = resolve_scan_clause(parsed)
            echo = responses.Echo()
            if version != "2.0":
                echo.add("version", version)
            echo.add("scanClause", clause)
            if version != "2.0":
                echo.add_xml(responses.search_clause_xcql(index.qualified, relation, term))
            echo.add("responsePosition", position)
            echo.add("maximumTerms", maximum)
            echo.add("stylesheet", stylesheet)
            if position > maximum + 1:  # the range is 0 .. maximumTerms + 1 as asked for, not as capped
                raise d.ResponsePositionOutOfRange(f"responsePosition {position} > maximumTerms + 1")
            before, after = scan_window(position, maximum, self.info.max_terms)
            result = await self.backend.scan(index, term, before, after, inclusive=position > 0)
        except d.SRUDiagnostic as e:
            return responses.scan(version, echo=echo, diagnostics=[e], stylesheet=stylesheet)
        listed = [*result.before, *result.after]
        terms = [responses.ScanTermOut(t.value, t.count, t.display) for t in listed]
        if terms:
            at_start, at_end = not result.more_before, not result.more_after
            if len(terms) == 1:
                terms[0].where = "only" if at_start and at_end else "first" if at_start else \
                    "last" if at_end else "inner"
            else:
                terms[0].where = "first" if at_start else "inner"
                terms[-1].where = "last" if at_end else "inner"
        return responses.scan(version, terms=terms, echo=echo, stylesheet=stylesheet)


def scan_window(position: int, maximum: int, cap: int) -> tuple[int, int]:
    """(terms before the start term, terms from it on) for a valid ``responsePosition``.

    The request asks for ``maximum`` terms with the start term at ``position`` (0: just before
    the list, ``maximum + 1``: just after it). Above ``cap`` the list is cut to the ``cap``
    terms nearest the start term: as many on each side as asked for, at most half the cap on a
    side that wants more than that while the other side wants more too.
    """
    before = max(position - 1, 0)
    after = maximum - before
    if maximum > cap:
        before = min(before, max(cap // 2, cap - after))
        after = min(after, cap - before)
    return before, after
