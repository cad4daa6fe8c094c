"""Request parameters: version and operation, and the checks every parameter goes through.

Version: ``1.1`` and ``1.2`` when asked for, otherwise SRU 2.0 (no ``version`` or
``version=2.0``). Operation: as given; in 2.0 it may be left out and is inferred (``query``:
searchRetrieve, ``scanClause``: scan, else explain); in 1.x a request with nothing but a
version is an explain. Parameters starting with ``x-`` are extensions and ignored; others
the operation does not know are diagnostic 8.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from protocols.sru import diagnostics as d

VERSIONS = ("1.1", "1.2", "2.0")
OPERATIONS = ("explain", "searchRetrieve", "scan")

_COMMON = {"operation", "version", "stylesheet"}
_KNOWN: dict[tuple[str, str], frozenset[str]] = {}
for _v in VERSIONS:
    _packing = {"recordXMLEscaping", "recordPacking"} if _v == "2.0" else {"recordPacking"}
    _search = {"query", "startRecord", "maximumRecords", "recordSchema", "recordXPath", "resultSetTTL"}
    if _v != "1.2":
        _search.add("sortKeys")
    if _v == "2.0":
        _search |= {"queryType", "httpAccept", "responseType", "renderedBy"}
    _KNOWN[(_v, "searchRetrieve")] = frozenset(_COMMON | _packing | _search)
    _KNOWN[(_v, "scan")] = frozenset(_COMMON | {"scanClause", "responsePosition", "maximumTerms"}
                                     | ({"httpAccept"} if _v == "2.0" else set()))
    _KNOWN[(_v, "explain")] = frozenset(_COMMON | _packing | ({"httpAccept"} if _v == "2.0" else set()))


@dataclass(frozen=True, slots=True)
class Request:
    version: str
    operation: str
    params: Mapping[str, str]

    def get(self, name: str) -> str | None:
        return self.params.get(name)


def first_values(params: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """One value per parameter (the first): SRU parameters are not repeatable."""
    return {name: values[0] for name, values in params.items() if values}


def response_version(requested: str | None) -> str:
    """The version to answer in, even when the requested one is not supported."""
    if requested in VERSIONS:
        return requested
    if requested is not None and requested.startswith("1."):
        return "1.2"
    return "2.0"


def parse_request(params: Mapping[str, str]) -> Request:
    """Version and operation of a request, or the diagnostic (4, 5, 7, 8) that rejects it."""
    requested = params.get("version")
    if requested is not None and requested not in VERSIONS:
        raise d.UnsupportedVersion(f"{requested}; supported: {', '.join(VERSIONS)}")
    version = requested or "2.0"
    operation = params.get("operation")
    if operation is None or operation == "":
        if "query" in params:
            operation = "searchRetrieve"
        elif "scanClause" in params:
            operation = "scan"
        elif version == "2.0" or not _meaningful(params):
            operation = "explain"
        else:
            raise d.MandatoryParameterNotSupplied("operation")
        if version != "2.0" and operation != "explain":
            raise d.MandatoryParameterNotSupplied("operation")
    if operation not in OPERATIONS:
        raise d.UnsupportedOperation(operation)
    known = _KNOWN[(version, operation)]
    for name in params:
        if name not in known and not name.startswith("x-"):
            raise d.UnsupportedParameter(name)
    return Request(version, operation, params)


def _meaningful(params: Mapping[str, str]) -> bool:
    return any(name not in ("version", "stylesheet") and not name.startswith("x-") for name in params)


def integer(request: Request, name: str, default: int, minimum: int) -> int:
    """A whole-number parameter, at least ``minimum``; diagnostic 6 otherwise."""
    value = request.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise d.UnsupportedParameterValue(f"{name}: {value!r} is not a number") from None
    if number < minimum:
        raise d.UnsupportedParameterValue(f"{name}: {value!r} is below {minimum}")
    return number


def xml_escaping(request: Request) -> str:
    """``xml`` or ``string``: recordPacking (1.x) or recordXMLEscaping (2.0); diagnostic 71."""
    if request.version == "2.0":
        value = request.get("recordXMLEscaping")
        packing = request.get("recordPacking")
        if value is None and packing in ("xml", "string"):
            value = packing  # a 1.x habit: accepted as the escaping it means
        elif packing not in (None, "", "packed", "unpacked", "xml", "string"):
            raise d.UnsupportedRecordPacking(f"recordPacking {packing!r}")
    else:
        value = request.get("recordPacking")
    if value is None or value == "":
        return "xml"
    if value not in ("xml", "string"):
        raise d.UnsupportedRecordPacking(value)
    return value
