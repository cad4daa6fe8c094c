"""SRU diagnostics (info:srw/diagnostic/1/N) as exceptions, one class per number used.

Every diagnostic the service sends is one of these, raised where the problem is found and
turned into the response's ``diagnostics`` element by :mod:`protocols.sru.responses`. All of
them are fatal for the operation: no records are returned with them.
"""

from __future__ import annotations

from typing import ClassVar

DIAGNOSTIC_SET = "info:srw/diagnostic/1/"


class SRUDiagnostic(Exception):
    """A diagnostic: ``code`` is its number in the SRU diagnostic set, ``details`` its detail."""

    code: ClassVar[int] = 1
    text: ClassVar[str] = "General system error"

    def __init__(self, details: str | None = None, message: str | None = None) -> None:
        super().__init__(details or self.text)
        self.details = details
        self.message = message or self.text

    @property
    def uri(self) -> str:
        return f"{DIAGNOSTIC_SET}{self.code}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.details!r})"


def diagnostic(code: int, details: str | None = None, message: str | None = None) -> SRUDiagnostic:
    """The diagnostic for a number (e.g. a CQL parser error's ``code``)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        text = message or f"Diagnostic {code}"
        cls = type(f"Diagnostic{code}", (SRUDiagnostic,), {"code": code, "text": text})
    return cls(details, message)


class GeneralSystemError(SRUDiagnostic):
    code = 1
    text = "General system error"


class SystemTemporarilyUnavailable(SRUDiagnostic):
    code = 2
    text = "System temporarily unavailable"


class UnsupportedOperation(SRUDiagnostic):
    code = 4
    text = "Unsupported operation"


class UnsupportedVersion(SRUDiagnostic):
    code = 5
    text = "Unsupported version"


class UnsupportedParameterValue(SRUDiagnostic):
    code = 6
    text = "Unsupported parameter value"


class MandatoryParameterNotSupplied(SRUDiagnostic):
    code = 7
    text = "Mandatory parameter not supplied"


class UnsupportedParameter(SRUDiagnostic):
    code = 8
    text = "Unsupported parameter"


class QuerySyntaxError(SRUDiagnostic):
    code = 10
    text = "Query syntax error"


class UnsupportedParentheses(SRUDiagnostic):
    code = 13
    text = "Invalid or unsupported use of parentheses"


class UnsupportedQuotes(SRUDiagnostic):
    code = 14
    text = "Invalid or unsupported use of quotes"


class UnsupportedContextSet(SRUDiagnostic):
    code = 15
    text = "Unsupported context set"


class UnsupportedIndex(SRUDiagnostic):
    code = 16
    text = "Unsupported index"


class UnsupportedRelation(SRUDiagnostic):
    code = 19
    text = "Unsupported relation"


class UnsupportedRelationModifier(SRUDiagnostic):
    code = 20
    text = "Unsupported relation modifier"


class EmptyTermUnsupported(SRUDiagnostic):
    code = 27
    text = "Empty term unsupported"


class MaskingNotSupported(SRUDiagnostic):
    code = 28
    text = "Masking character not supported"


class MaskedWordsTooShort(SRUDiagnostic):
    code = 29
    text = "Masked words too short"


class AnchoringNotSupported(SRUDiagnostic):
    code = 31
    text = "Anchoring character not supported"


class AnchoringPosition(SRUDiagnostic):
    code = 32
    text = "Anchoring character in unsupported position"


class InvalidTermFormat(SRUDiagnostic):
    code = 36
    text = "Term in invalid format for index or relation"


class UnsupportedBoolean(SRUDiagnostic):
    code = 37
    text = "Unsupported boolean operator"


class TooManyBooleans(SRUDiagnostic):
    code = 38
    text = "Too many boolean operators in query"


class UnsupportedBooleanModifier(SRUDiagnostic):
    code = 46
    text = "Unsupported boolean modifier"


class MaskingPosition(SRUDiagnostic):
    code = 49
    text = "Masking character in unsupported position"


class FirstRecordOutOfRange(SRUDiagnostic):
    code = 61
    text = "First record position out of range"


class UnknownSchema(SRUDiagnostic):
    code = 66
    text = "Unknown schema for retrieval"


class UnsupportedRecordPacking(SRUDiagnostic):
    code = 71
    text = "Unsupported record packing"


class XPathUnsupported(SRUDiagnostic):
    code = 72
    text = "XPath retrieval unsupported"


class SortUnsupported(SRUDiagnostic):
    code = 80
    text = "Sort not supported"


class TooManySortKeys(SRUDiagnostic):
    code = 84
    text = "Too many sort keys to sort"


class UnsupportedSortSchema(SRUDiagnostic):
    code = 87
    text = "Unsupported schema for sort"


class UnsupportedSortPath(SRUDiagnostic):
    code = 88
    text = "Unsupported path for sort"


class UnsupportedSortDirection(SRUDiagnostic):
    code = 90
    text = "Unsupported direction value"


class UnsupportedSortCase(SRUDiagnostic):
    code = 91
    text = "Unsupported case value"


class UnsupportedMissingValue(SRUDiagnostic):
    code = 92
    text = "Unsupported missing value action"


class ResponsePositionOutOfRange(SRUDiagnostic):
    code = 120
    text = "Response position out of range"


_BY_CODE: dict[int, type[SRUDiagnostic]] = {
    cls.code: cls
    for cls in (
        GeneralSystemError,
        SystemTemporarilyUnavailable,
        UnsupportedOperation,
        UnsupportedVersion,
        UnsupportedParameterValue,
        MandatoryParameterNotSupplied,
        UnsupportedParameter,
        QuerySyntaxError,
        UnsupportedParentheses,
        UnsupportedQuotes,
        UnsupportedContextSet,
        UnsupportedIndex,
        UnsupportedRelation,
        UnsupportedRelationModifier,
        EmptyTermUnsupported,
        MaskingNotSupported,
        MaskedWordsTooShort,
        AnchoringNotSupported,
        AnchoringPosition,
        InvalidTermFormat,
        UnsupportedBoolean,
        TooManyBooleans,
        UnsupportedBooleanModifier,
        MaskingPosition,
        FirstRecordOutOfRange,
        UnknownSchema,
        UnsupportedRecordPacking,
        XPathUnsupported,
        SortUnsupported,
        TooManySortKeys,
        UnsupportedSortSchema,
        UnsupportedSortPath,
        UnsupportedSortDirection,
        UnsupportedSortCase,
        UnsupportedMissingValue,
        ResponsePositionOutOfRange,
    )
}
