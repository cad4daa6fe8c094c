"""Recursive-descent parser for CQL 1.2, producing the tree of :mod:`.ast`.

Grammar accepted (``|`` alternatives, ``*`` repetition, ``?`` optional)::

    query        ::= scoped ( sortBy sortSpec+ )?
    scoped       ::= prefixAssign+ scoped
                   | operand ( boolean modifier* operand )*
    operand      ::= '(' scoped ')'
                   | prefixAssign+ scoped            (lenient, as cql-java: the rest of the group)
                   | index relation modifier* ( term | '(' scoped ')' )
                   | term
    prefixAssign ::= '>' ( name '=' )? uri
    relation     ::= '=' | '==' | '<' | '>' | '<=' | '>=' | '<>'
                   | any | all | adj | exact | within | encloses | scr | prefix.name
    modifier     ::= '/' name ( comparison value )?
    sortSpec     ::= index modifier*
    term         ::= ( word | string )+            (several are joined by one space)

``boolean`` is ``and or not prox`` in any case; they have equal precedence and associate to
the left. Keywords are reserved only where an operator may stand: ``and``, ``prox`` or
``sortby`` alone are terms, as are ``any`` or ``all``. A named relation is recognised only
right after the first word of a clause (``title any fish``); a word containing a dot is a
relation there when its part before the dot is a name (``title cql.exact fish``), so
``java 1.5`` stays a two-word term.

Two extensions of cql-java are kept for compatibility with its regression suite: several
unquoted words make one term (``title = cat dog``), and ``index relation ( query )`` makes
``index relation`` the default for the bare terms inside the group.

Limits: parentheses and prefix scopes nest at most ``max_depth`` deep (diagnostic 13
beyond), and at most ``max_booleans`` boolean operators are accepted (diagnostic 38), which
keeps every recursive walk of the tree far below Python's recursion limit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NoReturn

from .ast import (
    SERVER_CHOICE,
    Modifier,
    Node,
    PrefixAssignment,
    Prefixed,
    Query,
    Relation,
    SearchClause,
    SortSpec,
    Span,
    Triple,
)
from .errors import CQLSyntaxError, TooManyBooleansError, UnbalancedParenthesesError
from .lexer import Token, TokenKind, tokenize

__all__ = [
    "BOOLEANS",
    "DEFAULT_MAX_BOOLEANS",
    "DEFAULT_MAX_DEPTH",
    "NAMED_RELATIONS",
    "is_named_relation",
    "parse",
]

BOOLEANS = frozenset({"and", "or", "not", "prox"})
SORTBY = "sortby"
NAMED_RELATIONS = frozenset({"any", "all", "adj", "exact", "within", "encloses", "scr"})
DEFAULT_MAX_DEPTH = 32
DEFAULT_MAX_BOOLEANS = 250

_W, _S = TokenKind.WORD, TokenKind.STRING


@dataclass(frozen=True, slots=True)
class _Context:
    """Index and relation given to a bare term."""

    index: str
    relation: Relation


_DEFAULT = _Context(SERVER_CHOICE, Relation("="))


def is_named_relation(word: str) -> bool:
    """Whether ``word``, standing after an index, is a relation name (``any``, ``cql.exact``)."""
    if word.lower() in NAMED_RELATIONS:
        return True
    prefix, dot, name = word.partition(".")
    return bool(dot and name and prefix[:1].isalpha() and all(c.isalnum() or c in "_-" for c in prefix))


def parse(
    query: str, *, max_depth: int = DEFAULT_MAX_DEPTH, max_booleans: int = DEFAULT_MAX_BOOLEANS
) -> Query:
    """Parse a CQL query string into a :class:`~protocols.cql.ast.Query`.

    Raises :class:`~protocols.cql.errors.CQLError` (a subclass naming the SRU diagnostic)
    for anything that is not a query; never any other exception.
    """
    return _Parser(query, max_depth, max_booleans).parse()


class _Parser:
    def __init__(self, query: str, max_depth: int, max_booleans: int) -> None:
        self.tokens = tokenize(query)
        self.index = 0
        self.open_parens: list[int] = []
        self.max_depth = max_depth
        self.max_booleans = max_booleans
        self.booleans = 0

    # -- token access --------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not TokenKind.EOF:
            self.index += 1
        return token

    def end_of_previous(self) -> int:
        return self.tokens[self.index - 1].end

    def fail(self, token: Token, expected: str) -> NoReturn:
        if token.kind is TokenKind.EOF and self.open_parens:
            where = self.open_parens[-1]
            raise UnbalancedParenthesesError(
                f"expected {expected}, got end of query: '(' at offset {where} is never closed", where
            )
        if token.kind is TokenKind.RPAREN:
            if not self.open_parens:
                raise UnbalancedParenthesesError("unbalanced ')': there is no '(' to close", token.start)
            raise UnbalancedParenthesesError(f"expected {expected}, got ')'", token.start)
        raise CQLSyntaxError(f"expected {expected}, got {token.describe()}", token.start)

    # -- grammar ---------------------------------------------------------------------

    def parse(self) -> Query:
        root = self.scoped(_DEFAULT, 0)
        sort: tuple[SortSpec, ...] = ()
        token = self.peek()
        if token.is_word(SORTBY):
            sort = self.sort_specs()
        elif token.kind is not TokenKind.EOF:
            self.fail(token, "a boolean operator, sortBy or the end of the query")
        return Query(root, sort)

    def scoped(self, context: _Context, depth: int) -> Node:
        start = self.peek()
        if depth > self.max_depth:
            raise UnbalancedParenthesesError(
                f"query nested more than {self.max_depth} levels deep", start.start
            )
        if start.kind is TokenKind.COMPARISON and start.text == ">":
            prefixes: list[PrefixAssignment] = []
            while (token := self.peek()).kind is TokenKind.COMPARISON and token.text == ">":
                prefixes.append(self.prefix_assignment())
            body = self.scoped(context, depth + 1)
            return Prefixed(tuple(prefixes), body, Span(start.start, body.span.end))
        left = self.operand(context, depth)
        while (token := self.peek()).kind is _W and token.text.lower() in BOOLEANS:
            self.advance()
            self.booleans += 1
            if self.booleans > self.max_booleans:
                raise TooManyBooleansError(
                    f"more than {self.max_booleans} boolean operators in the query", token.start
                )
            modifiers = self.modifiers()
            right = self.operand(context, depth)
            left = Triple(
                token.text.lower(),
                modifiers,
                left,
                right,
                Span(left.span.start, right.span.end),
                Span(token.start, token.end),
            )
        return left

    def operand(self, context: _Context, depth: int) -> Node:
        token = self.peek()
        if token.kind is TokenKind.LPAREN:
            return self.group(context, depth)
        if token.kind is TokenKind.COMPARISON and token.text == ">":
            return self.scoped(context, depth + 1)
        if token.kind in (_W, _S):
            return self.clause(context, depth)
        self.fail(token, "a search term, an index or '('")

    def group(self, context: _Context, depth: int) -> Node:
        opening = self.advance()
        if depth >= self.max_depth:
            raise UnbalancedParenthesesError(
                f"parentheses nested more than {self.max_depth} levels deep", opening.start
            )
        self.open_parens.append(opening.start)
        inner = self.scoped(context, depth + 1)
        token = self.peek()
        if token.kind is not TokenKind.RPAREN:
            if token.is_word(SORTBY):
                raise CQLSyntaxError("sortBy may only follow the whole query, not a group", token.start)
            self.fail(token, "a boolean operator or ')'")
        closing = self.advance()
        self.open_parens.pop()
        return replace(inner, span=Span(opening.start, closing.end))

    def clause(self, context: _Context, depth: int) -> Node:
        first = self.advance()
        following = self.peek()
        if following.kind is TokenKind.COMPARISON or (
            following.kind is _W and is_named_relation(following.text)
        ):
            relation = self.relation()
            after = self.peek()
            if after.kind is TokenKind.LPAREN:
                group = self.group(_Context(first.text, relation), depth)
                return replace(group, span=Span(first.start, group.span.end))
            if after.kind not in (_W, _S):
                self.fail(after, f"a search term after the relation '{relation.base}'")
            term, term_span = self.term(self.advance())
            span = Span(first.start, self.end_of_previous())
            return SearchClause(first.text, relation, term, span, term_span)
        term, term_span = self.term(first)
        after = self.peek()
        if after.kind is TokenKind.COMPARISON:
            raise CQLSyntaxError(
                f"unexpected relation '{after.text}': an index is a single word, not {term!r}", after.start
            )
        span = Span(first.start, self.end_of_previous())
        return SearchClause(context.index, context.relation, term, span, term_span)

    def term(self, first: Token) -> tuple[str, Span]:
        """The term starting with ``first``: it and any words or strings that follow it."""
        parts, last = [first.text], first
        while (token := self.peek()).kind is _S or (
            token.kind is _W and token.text.lower() not in BOOLEANS and token.text.lower() != SORTBY
        ):
            parts.append(token.text)
            last = self.advance()
        start = first.start + (first.kind is _S)
        end = last.end - (last.kind is _S)
        return " ".join(parts), Span(start, end)

    def relation(self) -> Relation:
        token = self.advance()
        modifiers = self.modifiers()
        return Relation(token.text, modifiers, Span(token.start, self.end_of_previous()))

    def modifiers(self) -> tuple[Modifier, ...]:
        modifiers: list[Modifier] = []
        while (slash := self.peek()).kind is TokenKind.SLASH:
            self.advance()
            name = self.peek()
            if name.kind is not _W:
                self.fail(name, "a modifier name after '/'")
            self.advance()
            comparison: str | None = None
            value: str | None = None
            if (symbol := self.peek()).kind is TokenKind.COMPARISON:
                self.advance()
                token = self.peek()
                if token.kind not in (_W, _S):
                    self.fail(token, f"a modifier value after '{symbol.text}'")
                comparison, value = symbol.text, self.advance().text
            modifiers.append(
                Modifier(name.text.lower(), comparison, value, Span(slash.start, self.end_of_previous()))
            )
        return tuple(modifiers)

    def prefix_assignment(self) -> PrefixAssignment:
        start = self.advance()
        first = self.peek()
        if first.kind not in (_W, _S):
            self.fail(first, "a prefix name or URI after '>'")
        self.advance()
        equals = self.peek()
        if not (equals.kind is TokenKind.COMPARISON and equals.text == "="):
            return PrefixAssignment(None, first.text, Span(start.start, first.end))
        self.advance()
        uri = self.peek()
        if uri.kind not in (_W, _S):
            self.fail(uri, f"a URI for the prefix {first.text!r}")
        self.advance()
        return PrefixAssignment(first.text, uri.text, Span(start.start, uri.end))

    def sort_specs(self) -> tuple[SortSpec, ...]:
        self.advance()
        specs: list[SortSpec] = []
        while (token := self.peek()).kind is not TokenKind.EOF:
            if token.kind not in (_W, _S):
                self.fail(token, "a sort key")
            self.advance()
            modifiers = self.modifiers()
            specs.append(SortSpec(token.text, modifiers, Span(token.start, self.end_of_previous())))
        if not specs:
            self.fail(self.peek(), "at least one sort key after sortBy")
        return tuple(specs)
