"""The CQL parse tree: small, immutable, typed dataclasses.

:func:`protocols.cql.parse` returns a :class:`Query`::

    Query(root: Node, sort: tuple[SortSpec, ...])

    Node = SearchClause | Triple | Prefixed

    SearchClause(index: str, relation: Relation, term: str)
        A search clause. A bare term gets ``index == "cql.serverChoice"`` and
        ``relation.base == "="``; a term inside ``index relation ( ... )`` gets that index
        and relation. ``term`` is the CQL term text exactly as CQL defines it: the quotes
        of a quoted term removed, everything else kept, including backslash escapes
        (``\\"`` ``\\*`` ...), masking ``*`` ``?`` and anchors ``^``: see
        :mod:`protocols.cql.masking` to analyse it. ``""`` is a valid (empty) term.
        Unquoted words standing next to each other are joined by one space (cql-java does
        the same): ``title = cat dog`` has the term ``cat dog``.

    Relation(base: str, modifiers: tuple[Modifier, ...])
        ``base`` as written: a symbol (``= == < > <= >= <>``) or a named relation
        (``any all adj exact within encloses scr``, or a prefixed one such as
        ``cql.exact``); :attr:`Relation.name` gives it lower-cased for comparisons.

    Modifier(name: str, comparison: str | None, value: str | None)
        ``/name`` or ``/name<comparison><value>``, e.g. ``/distance<3``. ``name`` is
        lower-cased (modifier names are case-insensitive; cql-java does the same);
        ``value`` is the text, without quotes if it was quoted.

    Triple(op: str, modifiers: tuple[Modifier, ...], left: Node, right: Node)
        A boolean: ``op`` is ``"and" | "or" | "not" | "prox"`` (lower-cased). All four
        have equal precedence and associate to the left: ``a or b and c`` is
        ``Triple("and", (), Triple("or", (), a, b), c)``.

    Prefixed(prefixes: tuple[PrefixAssignment, ...], query: Node)
        Prefix (context set) assignments scoped over ``query``: ``>dc="http://..." q``.
        ``PrefixAssignment(name: str | None, uri: str)``; ``name`` is None for
        ``>"http://..."``, which sets the default context set. Nested scopes stay nested;
        an inner assignment of the same name shadows the outer one.

    SortSpec(index: str, modifiers: tuple[Modifier, ...])
        One key after ``sortBy``, e.g. ``dc.date/sort.descending``.

Parentheses leave no node: they only group (the span of a grouped node includes them, and
``index relation`` before the group). Every node and modifier has a ``span``
(:class:`Span`, start and exclusive end offsets into the query string) for diagnostics;
spans are ignored by ``==``, so trees parsed from differently spaced queries compare equal.
:class:`Triple` also has ``op_span`` (the operator) and :class:`SearchClause` has
``term_span`` (the term text: for a quoted term, inside the quotes), so
``analyse_term(clause.term, clause.term_span.start)`` reports exact positions.

:func:`walk` yields every node of a tree, :func:`search_clauses` every search clause, and
:func:`prefix_scope` resolves prefixes the way a translator needs them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias

__all__ = [
    "SERVER_CHOICE",
    "Modifier",
    "Node",
    "PrefixAssignment",
    "Prefixed",
    "Query",
    "Relation",
    "SearchClause",
    "SortSpec",
    "Span",
    "Triple",
    "prefix_scope",
    "search_clauses",
    "walk",
]

#: The index of a search clause that names none.
SERVER_CHOICE = "cql.serverChoice"


class Span(NamedTuple):
    """Start and (exclusive) end offset of a piece of the query string."""

    start: int
    end: int


_NOWHERE = Span(0, 0)


@dataclass(frozen=True, slots=True)
class Modifier:
    name: str
    comparison: str | None = None
    value: str | None = None
    span: Span = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Relation:
    base: str
    modifiers: tuple[Modifier, ...] = ()
    span: Span = field(default=_NOWHERE, compare=False, repr=False)

    @property
    def name(self) -> str:
        """``base`` lower-cased: named relations are case-insensitive."""
        return self.base.lower()

    def modifier(self, name: str) -> Modifier | None:
        """The last modifier called ``name`` (case-insensitive), or None."""
        return _find(self.modifiers, name)


@dataclass(frozen=True, slots=True)
class SearchClause:
    index: str
    relation: Relation
    term: str
    span: Span = field(default=_NOWHERE, compare=False, repr=False)
    term_span: Span = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Triple:
    op: str
    modifiers: tuple[Modifier, ...]
    left: Node
    right: Node
    span: Span = field(default=_NOWHERE, compare=False, repr=False)
    op_span: Span = field(default=_NOWHERE, compare=False, repr=False)

    def modifier(self, name: str) -> Modifier | None:
        """The last boolean modifier called ``name`` (case-insensitive), or None."""
        return _find(self.modifiers, name)


@dataclass(frozen=True, slots=True)
class PrefixAssignment:
    name: str | None
    uri: str
    span: Span = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Prefixed:
    prefixes: tuple[PrefixAssignment, ...]
    query: Node
    span: Span = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SortSpec:
    index: str
    modifiers: tuple[Modifier, ...] = ()
    span: Span = field(default=_NOWHERE, compare=False, repr=False)

    def modifier(self, name: str) -> Modifier | None:
        """The last modifier called ``name`` (case-insensitive), e.g. ``sort.descending``."""
        return _find(self.modifiers, name)


Node: TypeAlias = SearchClause | Triple | Prefixed


@dataclass(frozen=True, slots=True)
class Query:
    """A whole parsed query: the search tree and the ``sortBy`` keys (empty if none)."""

    root: Node
    sort: tuple[SortSpec, ...] = ()


def _find(modifiers: tuple[Modifier, ...], name: str) -> Modifier | None:
    wanted = name.lower()
    for modifier in reversed(modifiers):
        if modifier.name == wanted:
            return modifier
    return None


def walk(node: Node | Query) -> Iterator[Node]:
    """Every node of the tree, parents before children, left before right."""
    stack: list[Node] = [node.root if isinstance(node, Query) else node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, Triple):
            stack.append(current.right)
            stack.append(current.left)
        elif isinstance(current, Prefixed):
            stack.append(current.query)


def search_clauses(node: Node | Query) -> Iterator[SearchClause]:
    """Every search clause of the tree, left to right."""
    for current in walk(node):
        if isinstance(current, SearchClause):
            yield current


def prefix_scope(
    node: Node | Query, outer: Mapping[str | None, str] | None = None
) -> Iterator[tuple[SearchClause, Mapping[str | None, str]]]:
    """Each search clause with the prefix assignments in force there.

    The mapping goes from prefix name (``None`` for the default set by ``>"uri"``) to URI;
    inner assignments override outer ones, later ones in a list override earlier ones.
    ``outer`` holds the server's own defaults, if any.
    """
    stack: list[tuple[Node, Mapping[str | None, str]]] = [
        (node.root if isinstance(node, Query) else node, dict(outer or {}))
    ]
    while stack:
        current, scope = stack.pop()
        if isinstance(current, SearchClause):
            yield current, scope
        elif isinstance(current, Triple):
            stack.append((current.right, scope))
            stack.append((current.left, scope))
        else:
            inner = dict(scope)
            inner.update((p.name, p.uri) for p in current.prefixes)
            stack.append((current.query, inner))
