"""CQL tokeniser with exact character positions.

A query is cut into these tokens (:class:`TokenKind`):

* ``LPAREN`` ``(``, ``RPAREN`` ``)``, ``SLASH`` ``/``;
* ``COMPARISON``: one of ``= == < > <= >= <>`` (the longest match wins, so ``<>`` is one
  token and ``=<`` is two);
* ``STRING``: a double-quoted string. Its ``text`` is what stands between the quotes,
  backslash escapes kept exactly as written (``"a \\"b\\" c*"`` gives ``a \\"b\\" c*``): CQL
  defines the term as that text, and masking is interpreted later (:mod:`.masking`);
* ``WORD``: any run of characters other than whitespace and ``( ) / < > = "``. A backslash
  inside a word escapes the next character, which is then part of the word whatever it is
  (``a\\(b`` is one word); both characters are kept in ``text``;
* ``EOF``, at ``len(query)``.

Keywords (``and or not prox sortby``) and named relations are ordinary ``WORD`` tokens:
whether a word is a keyword depends on where it stands, which only the parser knows.

Positions are offsets in code points of the Python string; ``end`` is exclusive and, for a
``STRING``, includes the closing quote.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .errors import CQLSyntaxError, UnbalancedQuotesError

__all__ = ["COMPARISONS", "WHITESPACE", "Token", "TokenKind", "tokenize"]

#: Characters that separate tokens (CQL whitespace).
WHITESPACE = frozenset(" \t\r\n\f\v")
#: Characters that end an unquoted word.
WORD_DELIMITERS = WHITESPACE | frozenset('()/<>="')
#: Comparison symbols, usable as relations and in modifiers.
COMPARISONS = ("=", "==", "<", ">", "<=", ">=", "<>")
_TWO_CHAR = frozenset({"==", "<=", ">=", "<>"})
#: Characters XML 1.0 cannot carry: a query holding one could not be echoed (XCQL, SRU).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class TokenKind(enum.Enum):
    WORD = "word"
    STRING = "string"
    LPAREN = "("
    RPAREN = ")"
    SLASH = "/"
    COMPARISON = "comparison"
    EOF = "end of query"


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    start: int
    end: int

    def describe(self) -> str:
        """The token as an error message names it."""
        if self.kind is TokenKind.EOF:
            return "end of query"
        if self.kind is TokenKind.WORD:
            return f"word {self.text!r}"
        if self.kind is TokenKind.STRING:
            return f'quoted string "{self.text}"'
        return f"'{self.text}'"

    def is_word(self, *lowered: str) -> bool:
        """Whether this is an unquoted word equal (case-insensitively) to one of ``lowered``."""
        return self.kind is TokenKind.WORD and self.text.lower() in lowered


def tokenize(query: str) -> list[Token]:
    """All tokens of ``query``, ending with one ``EOF`` token.

    Raises :class:`UnbalancedQuotesError` (14) for an unterminated quoted string, at the
    position of its opening quote, and :class:`CQLSyntaxError` (10) for a backslash at the
    very end of the query, which has nothing to escape, and for a character that XML
    cannot carry (control characters other than tab, newline and carriage return, lone
    surrogates, U+FFFE and U+FFFF), so that every accepted query can be echoed as XCQL.
    """
    bad = _NOT_XML.search(query)
    if bad:
        raise CQLSyntaxError(f"character U+{ord(bad.group()):04X} is not allowed in a query", bad.start())
    tokens: list[Token] = []
    i, n = 0, len(query)
    while True:
        while i < n and query[i] in WHITESPACE:
            i += 1
        if i >= n:
            tokens.append(Token(TokenKind.EOF, "", n, n))
            return tokens
        c = query[i]
        if c == "(":
            tokens.append(Token(TokenKind.LPAREN, c, i, i + 1))
            i += 1
        elif c == ")":
            tokens.append(Token(TokenKind.RPAREN, c, i, i + 1))
            i += 1
        elif c == "/":
            tokens.append(Token(TokenKind.SLASH, c, i, i + 1))
            i += 1
        elif c in "<>=":
            width = 2 if query[i : i + 2] in _TWO_CHAR else 1
            tokens.append(Token(TokenKind.COMPARISON, query[i : i + width], i, i + width))
            i += width
        elif c == '"':
            j = _string_end(query, i)
            tokens.append(Token(TokenKind.STRING, query[i + 1 : j], i, j + 1))
            i = j + 1
        else:
            j = _word_end(query, i)
            tokens.append(Token(TokenKind.WORD, query[i:j], i, j))
            i = j


def _string_end(query: str, start: int) -> int:
    """Offset of the quote closing the string opened at ``start``."""
    i, n = start + 1, len(query)
    while i < n:
        c = query[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i
        else:
            i += 1
    raise UnbalancedQuotesError('unterminated quoted string: no closing "', start)


def _word_end(query: str, start: int) -> int:
    """Offset just past the unquoted word starting at ``start``."""
    i, n = start, len(query)
    while i < n:
        c = query[i]
        if c == "\\":
            if i + 1 >= n:
                raise CQLSyntaxError("backslash at the end of the query escapes nothing", i)
            i += 2
        elif c in WORD_DELIMITERS:
            break
        else:
            i += 1
    return i
