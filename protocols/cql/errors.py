"""Errors raised while parsing or checking a CQL query.

Every error carries the SRU diagnostic number that describes it (``code``, a class
attribute, so ``except CQLError as e: diagnostic(e.code, ...)`` works for any subclass),
a human-readable ``message`` and the ``position``: the offset, in characters (code points)
of the query string, where the problem is. For errors found at the end of the query the
position equals ``len(query)``.

SRU diagnostic numbers used (info:srw/diagnostic/1/N):

==  =================================================  ==============================
10  Query syntax error                                 :class:`CQLSyntaxError`
13  Invalid or unsupported use of parentheses          :class:`UnbalancedParenthesesError`
14  Invalid or unsupported use of quotes               :class:`UnbalancedQuotesError`
27  Empty term unsupported                             :class:`EmptyTermError`
32  Anchoring character not supported in this position :class:`AnchoringError`
38  Too many boolean operators in query                :class:`TooManyBooleansError`
==  =================================================  ==============================

The parser raises only 10, 13, 14 and 38; 27 and 32 come from the optional checks in
:mod:`protocols.cql.checks` and :mod:`protocols.cql.masking`, which a translator may apply
when it does not support empty terms or a misplaced ``^``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AnchoringError",
    "CQLError",
    "CQLSyntaxError",
    "EmptyTermError",
    "TooManyBooleansError",
    "UnbalancedParenthesesError",
    "UnbalancedQuotesError",
]


class CQLError(Exception):
    """Base class: a query that cannot be accepted, with its SRU diagnostic ``code``."""

    code: ClassVar[int] = 10
    #: SRU diagnostic URI for ``code``.
    DIAGNOSTIC_PREFIX: ClassVar[str] = "info:srw/diagnostic/1/"

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, position)
        self.message = message
        self.position = position

    @property
    def uri(self) -> str:
        """The SRU diagnostic URI, e.g. ``info:srw/diagnostic/1/10``."""
        return f"{self.DIAGNOSTIC_PREFIX}{self.code}"

    def __str__(self) -> str:
        return f"{self.message} (at offset {self.position})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, {self.position})"


class CQLSyntaxError(CQLError):
    """Diagnostic 10: the query does not follow the CQL grammar."""

    code = 10


class UnbalancedParenthesesError(CQLSyntaxError):
    """Diagnostic 13: an unclosed ``(``, a stray ``)``, empty or too deeply nested parentheses."""

    code = 13


class UnbalancedQuotesError(CQLSyntaxError):
    """Diagnostic 14: a quoted string is not terminated; position is its opening quote."""

    code = 14


class TooManyBooleansError(CQLError):
    """Diagnostic 38: more boolean operators than the parser was allowed to accept."""

    code = 38


class EmptyTermError(CQLError):
    """Diagnostic 27: an empty term (``""``), for services that do not support it."""

    code = 27


class AnchoringError(CQLError):
    """Diagnostic 32: an unescaped ``^`` that is neither the first nor the last character."""

    code = 32
