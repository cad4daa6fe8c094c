"""Masking and anchoring in CQL terms.

The parse tree keeps a term as CQL defines it, special characters and escapes included.
:func:`analyse_term` reads it the way CQL 1.2 does:

* ``*`` (unescaped) stands for any sequence of characters, possibly empty;
* ``?`` (unescaped) stands for exactly one character;
* ``^`` (unescaped) as the first or last character anchors the term at the start or the
  end of the field; anywhere else it is an error (SRU diagnostic 32);
* a backslash makes the next character literal: ``\\*`` is a star, ``\\?`` a question mark,
  ``\\^`` a caret, ``\\"`` a quote, ``\\\\`` a backslash; before any other character it
  simply stands for that character.

The result, :class:`TermPattern`, holds the literal runs (escapes resolved) and the masks
in order, with properties for the cases a translator handles specially: plain term, right
truncation (``cat*``), left truncation (``*cat``), inner or single-character masking.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import AnchoringError

__all__ = ["Mask", "TermPattern", "analyse_term", "has_masking"]


class Mask(enum.Enum):
    """A masking character."""

    MANY = "*"
    ONE = "?"


@dataclass(frozen=True, slots=True)
class TermPattern:
    """A term read for masking: literal strings and :class:`Mask` items, in order.

    Adjacent literals are merged and empty literals left out, so ``parts`` of ``a\\*b*`` is
    ``("a*b", Mask.MANY)`` and of ``""`` is ``()``.
    """

    parts: tuple[str | Mask, ...]
    anchored_start: bool = False
    anchored_end: bool = False

    @property
    def masks(self) -> tuple[Mask, ...]:
        return tuple(p for p in self.parts if isinstance(p, Mask))

    @property
    def is_plain(self) -> bool:
        """No masking character at all (anchors may still be set)."""
        return not self.masks

    @property
    def literal(self) -> str:
        """All literal text joined, masks dropped: the whole term when it :attr:`is_plain`."""
        return "".join(p for p in self.parts if isinstance(p, str))

    @property
    def is_empty(self) -> bool:
        """Nothing to search for: no literal text and no mask (``""``, ``"^"``)."""
        return not self.parts

    @property
    def right_truncated(self) -> bool:
        """Exactly one mask, a trailing ``*`` after some text: ``cat*``."""
        return self.masks == (Mask.MANY,) and len(self.parts) > 1 and self.parts[-1] is Mask.MANY

    @property
    def left_truncated(self) -> bool:
        """Exactly one mask, a leading ``*`` before some text: ``*cat``."""
        return self.masks == (Mask.MANY,) and len(self.parts) > 1 and self.parts[0] is Mask.MANY

    @property
    def inner_masking(self) -> bool:
        """A mask with literal text on both sides: ``c*t``, ``c?t``."""
        return any(isinstance(p, Mask) and 0 < i < len(self.parts) - 1 for i, p in enumerate(self.parts))

    @property
    def single_char_masking(self) -> bool:
        """At least one ``?``."""
        return Mask.ONE in self.masks


def has_masking(term: str) -> bool:
    """Whether ``term`` contains an unescaped ``*`` or ``?``."""
    escaped = False
    for c in term:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in "*?":
            return True
    return False


def analyse_term(term: str, offset: int = 0) -> TermPattern:
    """Read ``term`` (as the parse tree holds it) for masking and anchoring.

    ``offset`` is where the term starts in the query (``clause.term_span.start``), used for
    the position of an :class:`~protocols.cql.errors.AnchoringError` (32) raised for a
    ``^`` that is neither first nor last. A backslash ending the term stands for itself.
    """
    parts: list[str | Mask] = []
    literal: list[str] = []
    anchored_start = anchored_end = False
    last = len(term) - 1
    i = 0
    while i <= last:
        c = term[i]
        if c == "\\" and i < last:
            literal.append(term[i + 1])
            i += 2
            continue
        if c == "^":
            if i == 0:
                anchored_start = True
            elif i == last:
                anchored_end = True
            else:
                raise AnchoringError(
                    "'^' anchors a term only as its first or last character; write \\^ for a caret",
                    offset + i,
                )
        elif c in "*?":
            if literal:
                parts.append("".join(literal))
                literal.clear()
            parts.append(Mask(c))
        else:
            literal.append(c)
        i += 1
    if literal:
        parts.append("".join(literal))
    return TermPattern(tuple(parts), anchored_start, anchored_end)
