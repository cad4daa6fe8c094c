"""From a CQL parse tree to a resolved query: indexes looked up, relations checked, terms read.

:func:`resolve` takes the tree of :mod:`protocols.cql` and returns an expression of
:class:`WordsClause`, :class:`ValueClause`, :class:`RangeClause`, :class:`AllClause` and
:class:`Boolean` nodes plus the sort keys, or raises the SRU diagnostic for the first thing
the service does not support (never a silent zero-hit answer). The result knows nothing of
SQL; :mod:`gateway.search.translate` turns it into a parameterised statement.

Decisions (see docs/sru.md): ``=`` on a word index means ``adj`` (a phrase); ``==``/``exact`` on title,
creator and subject compares the whole folded value; right truncation (``word*``) is the
only masking; ``^`` anchors only titles; unprefixed indexes are looked up in every context set
explain lists, in its order (cql, dc, bath, rec, forvarv).
"""

from __future__ import annotations

from collections.abc import Mapping

from protocols import cql
from protocols.cql import Mask, analyse_term
from protocols.cql.parser import NAMED_RELATIONS
from protocols.sru import diagnostics as d
from protocols.sru.indexes import (
    EXACT,
    SET_BY_URI,
    SET_NAMES,
    SORT_KEYS,
    UNPREFIXED_ORDER,
    Index,
    Kind,
    lookup,
)
from protocols.sru.nodes import AllClause, Boolean, Clause, Expr, RangeClause, SortKey, ValueClause, Word, WordsClause
from protocols.sru.ranges import range_clause, time_interval, year_interval

_NOOP_RELATION_MODIFIERS = {"ignorecase", "ignoreaccents"}
_MIN_TRUNCATED = 2


def resolve(query: cql.Query) -> tuple[Expr, tuple[SortKey, ...]]:
    """The resolved expression and sort keys of a parsed query; raises SRUDiagnostic."""
    expr = _node(query.root, {})
    root_scope: dict[str | None, str] = {}
    if isinstance(query.root, cql.Prefixed):
        root_scope.update((p.name, p.uri) for p in query.root.prefixes)
    keys = tuple(_sort_spec(spec, root_scope) for spec in query.sort)
    return expr, keys


def resolve_scan_clause(query: cql.Query) -> tuple[Index, str, str]:
    """(index, folded-later start term, relation) of a scan clause; raises SRUDiagnostic."""
    node = query.root
    scope: dict[str | None, str] = {}
    while isinstance(node, cql.Prefixed):
        scope.update((p.name, p.uri) for p in node.prefixes)
        node = node.query
    if not isinstance(node, cql.SearchClause) or query.sort:
        raise d.QuerySyntaxError("a scan clause is a single search clause")
    index = _index(node.index, scope)
    if not index.scan:
        raise d.UnsupportedIndex(f"{index.qualified} cannot be scanned")
    relation = _relation(node.relation, index)
    if relation not in ("=", EXACT):
        raise d.UnsupportedRelation(f"scan supports = and ==, not {node.relation.base}")
    return index, _scan_term(node, index, relation), relation


def _scan_term(clause: cql.SearchClause, index: Index, relation: str) -> str:
    """The literal start term of a scan clause (empty, or no word at all: the start of the index).

    A term searchRetrieve rejects gets the diagnostic the search gives it (``^`` inside a
    word 32, ``?`` 28, a misplaced ``*`` 49, ``a*`` 29, ``^`` on an index without anchoring
    31, ...); a term the search accepts with masking or anchoring is 28 or 31 here, since scan
    starts from a single term.
    """
    try:
        pattern: cql.TermPattern | None = analyse_term(clause.term, clause.term_span.start)
    except cql.CQLError:
        pattern = None  # a '^' that is not the term's first or last character
    if pattern is not None and not (pattern.masks or pattern.anchored_start or pattern.anchored_end):
        return pattern.literal
    # Masking or anchoring somewhere: read the term as the search does, with its diagnostics.
    if index.kind is Kind.WORDS:
        words = _words(clause, index, relation)
        if any(word.prefix for word in words.words):
            raise d.MaskingNotSupported("no masking in a scan term")
    else:
        _plain_pattern(clause, index)  # rejects any masking or anchoring
    raise d.AnchoringNotSupported("no anchoring in a scan term")


# --- tree -------------------------------------------------------------------------------------

def _node(node: cql.Node, scope: Mapping[str | None, str]) -> Expr:
    if isinstance(node, cql.Prefixed):
        inner = dict(scope)
        inner.update((p.name, p.uri) for p in node.prefixes)
        return _node(node.query, inner)
    if isinstance(node, cql.Triple):
        if node.op not in ("and", "or", "not"):
            raise d.UnsupportedBoolean(node.op)
        if node.modifiers:
            raise d.UnsupportedBooleanModifier(f"{node.op}/{node.modifiers[0].name}")
        return Boolean(node.op, _node(node.left, scope), _node(node.right, scope))
    return _clause(node, scope)


def _index(name: str, scope: Mapping[str | None, str]) -> Index:
    prefix, dot, local = name.partition(".")
    if not dot:
        prefix, local = "", name
    candidates: list[str]
    if not prefix:
        default = scope.get(None)
        if default is not None:
            if default not in SET_BY_URI:
                raise d.UnsupportedContextSet(default)
            candidates = [SET_BY_URI[default]]
        else:
            candidates = list(UNPREFIXED_ORDER)
    else:
        assigned = _scope_uri(scope, prefix)
        if assigned is not None:
            if assigned not in SET_BY_URI:
                raise d.UnsupportedContextSet(assigned)
            candidates = [SET_BY_URI[assigned]]
        elif prefix.lower() in SET_NAMES:
            candidates = [prefix.lower()]
        else:
            raise d.UnsupportedContextSet(prefix)
    for set_name in candidates:
        found = lookup(set_name, local)
        if found is not None:
            return found
    raise d.UnsupportedIndex(name)


def _scope_uri(scope: Mapping[str | None, str], prefix: str) -> str | None:
    if prefix in scope:
        return scope[prefix]
    for name, uri in scope.items():
        if name is not None and name.lower() == prefix.lower():
            return uri
    return None


def _relation(relation: cql.Relation, index: Index) -> str:
    name = relation.name
    if name.startswith("cql.") and name[4:] in NAMED_RELATIONS:
        name = name[4:]
    if name == "exact":
        name = EXACT
    elif name == "scr":
        name = "="
    for modifier in relation.modifiers:
        bare = modifier.name.removeprefix("cql.")
        if bare not in _NOOP_RELATION_MODIFIERS or modifier.value is not None:
            raise d.UnsupportedRelationModifier(f"{relation.base}/{modifier.name}")
    if name not in index.relations:
        raise d.UnsupportedRelation(f"{relation.base} on {index.qualified}")
    return name


def _clause(clause: cql.SearchClause, scope: Mapping[str | None, str]) -> Clause:
    index = _index(clause.index, scope)
    relation = _relation(clause.relation, index)
    if index.kind is Kind.ALL:
        return AllClause(index)
    if not clause.term.strip():
        raise d.EmptyTermUnsupported(f"empty term for {index.qualified}")
    if index.kind is Kind.WORDS:
        return _words(clause, index, relation)
    pattern = _plain_pattern(clause, index)
    if index.kind is Kind.YEAR:
        return range_clause(index, relation, pattern.literal, year_interval,
                             "within wants two years: \"1990 1999\"")
    if index.kind is Kind.DATETIME:
        return range_clause(index, relation, pattern.literal, time_interval,
                             "within wants two dates: \"2024-01-01 2024-06-30\"")
    text = pattern.literal.strip()
    values = tuple(text.split()) if relation == "any" else (text,)
    return ValueClause(index, values)


def _plain_pattern(clause: cql.SearchClause, index: Index) -> cql.TermPattern:
    pattern = _analyse(clause.term, clause.term_span.start)
    if pattern.masks:
        raise d.MaskingNotSupported(f"no masking in {index.qualified}")
    if pattern.anchored_start or pattern.anchored_end:
        raise d.AnchoringNotSupported(f"no anchoring in {index.qualified}")
    return pattern


def _analyse(term: str, offset: int) -> cql.TermPattern:
    try:
        return analyse_term(term, offset)
    except cql.CQLError as e:
        raise d.diagnostic(e.code, e.message) from e


def _split_words(term: str, offset: int) -> list[tuple[str, int]]:
    """The term's words: split on unescaped whitespace, each with its offset."""
    words: list[tuple[str, int]] = []
    start: int | None = None
    escaped = False
    for i, c in enumerate(term):
        if escaped:
            escaped = False
            continue
        if c.isspace():
            if start is not None:
                words.append((term[start:i], offset + start))
                start = None
            continue
        if start is None:
            start = i
        if c == "\\":
            escaped = True
    if start is not None:
        words.append((term[start:], offset + start))
    return words


def _words(clause: cql.SearchClause, index: Index, relation: str) -> WordsClause:
    raw = _split_words(clause.term, clause.term_span.start)
    words: list[Word] = []
    anchored_start = anchored_end = False
    for n, (text, offset) in enumerate(raw):
        pattern = _analyse(text, offset)
        if pattern.anchored_start:
            if n != 0:
                raise d.AnchoringPosition(f"'^' inside the term of {index.qualified}")
            anchored_start = True
        if pattern.anchored_end:
            if n != len(raw) - 1:
                raise d.AnchoringPosition(f"'^' inside the term of {index.qualified}")
            anchored_end = True
        if pattern.single_char_masking:
            raise d.MaskingNotSupported("'?' is not supported; use '*' at the end of a word")
        prefix = False
        if pattern.masks:
            if not pattern.right_truncated:
                raise d.MaskingPosition("'*' is supported only at the end of a word")
            if sum(ch.isalnum() for ch in pattern.literal) < _MIN_TRUNCATED:
                raise d.MaskedWordsTooShort(f"at least {_MIN_TRUNCATED} characters before '*'")
            prefix = True
        if not any(ch.isalnum() for ch in pattern.literal):
            continue  # punctuation only: not a word
        words.append(Word(pattern.literal, prefix))
    if not words:
        raise d.EmptyTermUnsupported(f"no searchable word in the term for {index.qualified}")
    if (anchored_start or anchored_end) and not index.anchoring:
        raise d.AnchoringNotSupported(f"no anchoring in {index.qualified}")
    if anchored_end and words[-1].prefix:
        raise d.MaskingPosition("'*' before an end anchor")
    # CQL 1.2: for a string term the server should normally treat = as adj (a phrase), as
    # Zebra and the Library of Congress do.
    op = {"=": "adj", EXACT: "exact"}.get(relation, relation)
    return WordsClause(index, op, tuple(words), anchored_start, anchored_end)


# --- sorting ----------------------------------------------------------------------------------

def _sort_spec(spec: cql.SortSpec, scope: Mapping[str | None, str]) -> SortKey:
    index = _index(spec.index, scope)
    if index.sort is None:
        raise d.UnsupportedSortPath(f"{index.qualified} cannot be sorted on")
    ascending = True
    missing_high: bool | None = None
    for modifier in spec.modifiers:
        name = modifier.name.removeprefix("sort.")
        if name == "ascending":
            ascending = True
        elif name == "descending":
            ascending = False
        elif name in ("ignorecase", "ignoreaccents"):
            pass
        elif name in ("respectcase", "respectaccents"):
            raise d.UnsupportedSortCase(f"{spec.index}/{modifier.name}")
        elif name == "missinghigh":
            missing_high = True
        elif name == "missinglow":
            missing_high = False
        elif name.startswith("missing"):
            raise d.UnsupportedMissingValue(f"{spec.index}/{modifier.name}")
        else:
            raise d.UnsupportedRelationModifier(f"sort modifier {modifier.name}")
    return SortKey(index.sort, ascending, ascending if missing_high is None else missing_high)


def sort_keys_parameter(value: str, known_schemas: Mapping[str, object]) -> tuple[SortKey, ...]:
    """SRU 1.1/2.0 ``sortKeys``: ``path,schema,ascending,caseSensitive,missingValue`` ..."""
    keys: list[SortKey] = []
    for item in value.split():
        fields = item.split(",")
        if len(fields) > 5:
            raise d.UnsupportedParameterValue(f"sortKeys: {item!r}")
        path, schema, ascending, case, missing = [*fields, "", "", "", ""][:5]
        if schema and schema not in known_schemas:
            raise d.UnsupportedSortSchema(schema)
        index = _sort_path(path)
        if ascending not in ("", "1", "0", "true", "false"):
            raise d.UnsupportedSortDirection(ascending)
        up = ascending not in ("0", "false")
        if case not in ("", "0", "false"):
            raise d.UnsupportedSortCase(case)
        if missing not in ("", "highValue", "lowValue"):
            raise d.UnsupportedMissingValue(missing)
        missing_high = up if not missing else missing == "highValue"
        keys.append(SortKey(index, up, missing_high))
    if len(keys) > len(SORT_KEYS):
        raise d.TooManySortKeys(f"at most {len(SORT_KEYS)}")
    return tuple(keys)


def _sort_path(path: str) -> str:
    if path in SORT_KEYS:
        return path
    try:
        index = _index(path, {})
    except d.SRUDiagnostic:
        raise d.UnsupportedSortPath(path) from None
    if index.sort is None:
        raise d.UnsupportedSortPath(path)
    return index.sort


__all__ = [
    "AllClause",
    "Boolean",
    "Clause",
    "Expr",
    "Mask",
    "RangeClause",
    "SortKey",
    "ValueClause",
    "Word",
    "WordsClause",
    "resolve",
    "resolve_scan_clause",
    "sort_keys_parameter",
]
