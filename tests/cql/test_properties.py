"""Property tests: the parser never fails with anything but CQLError, and its output
(tree, CQL text, XCQL) is consistent for whatever it accepts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.cql import (
    CQLError,
    Modifier,
    Node,
    PrefixAssignment,
    Prefixed,
    Query,
    Relation,
    SearchClause,
    SortSpec,
    Triple,
    analyse_term,
    parse,
    search_clauses,
    to_cql,
    to_xcql,
)
from protocols.cql.lexer import TokenKind, tokenize

# Characters that matter to CQL, plus letters that spell keywords and relations.
CQL_ALPHABET = ' ()/<>="\\*?^.\t\nandortpxsyblcqeuhiwAOSé'
CQL_WORDS = st.sampled_from(
    ["and", "OR", "not", "prox", "sortBy", "any", "all", "adj", "exact", "cql.exact", "dc.title", "scr", "x"]
)
cqlish = st.lists(st.one_of(st.text(CQL_ALPHABET, max_size=4), CQL_WORDS), max_size=12).map(" ".join)


def _parse(query: str) -> Query | CQLError:
    try:
        return parse(query)
    except CQLError as error:
        return error


def _check(query: str) -> None:
    tree = _parse(query)
    if isinstance(tree, CQLError):
        assert 0 <= tree.position <= len(query)
        assert tree.code in (10, 13, 14, 38)
        return
    assert parse(to_cql(tree)) == tree
    to_xcql(tree)
    for clause in search_clauses(tree):
        assert 0 <= clause.span.start <= clause.span.end <= len(query)
        assert 0 <= clause.term_span.start <= clause.term_span.end <= len(query)
        if "^" in clause.term[1:-1]:
            continue  # may be a misplaced anchor (diagnostic 32)
        analyse_term(clause.term, clause.term_span.start)


@settings(max_examples=400)
@given(st.text())
def test_any_text_parses_or_raises_cql_error(query: str) -> None:
    _check(query)


@settings(max_examples=600)
@given(cqlish)
def test_cql_like_text_parses_or_raises_cql_error(query: str) -> None:
    _check(query)


@given(st.text(CQL_ALPHABET))
def test_tokens_cover_the_query(query: str) -> None:
    try:
        tokens = tokenize(query)
    except CQLError:
        return
    assert tokens[-1].kind is TokenKind.EOF
    previous_end = 0
    for token in tokens[:-1]:
        assert query[previous_end : token.start].strip(" \t\r\n\f\v") == ""
        source = query[token.start : token.end]
        assert source == (f'"{token.text}"' if token.kind is TokenKind.STRING else token.text)
        previous_end = token.end
    assert query[previous_end:].strip(" \t\r\n\f\v") == ""


# --- trees built directly: rendering them to CQL and parsing gives them back ----------

_plain = st.text("abcxyz.-_:*?^0123", min_size=1, max_size=6)
_escaped = st.sampled_from(["\\*", "\\?", "\\^", '\\"', "\\\\", "\\x"])
_specials = st.sampled_from([" ", "(", ")", "=", "/", "<>", "and"])
raw_terms = st.lists(st.one_of(_plain, _escaped, _specials), max_size=5).map("".join)
names = st.text("abcdefghijklmnopqrstuvwxyz.", min_size=1, max_size=8)
modifiers = st.lists(
    st.one_of(
        st.builds(Modifier, names),
        st.builds(Modifier, names, st.sampled_from(["=", "==", "<", ">", "<=", ">=", "<>"]), raw_terms),
    ),
    max_size=2,
).map(tuple)
relations = st.builds(
    Relation,
    st.sampled_from(
        ["=", "==", "<", ">", "<=", ">=", "<>", "any", "All", "adj", "exact", "cql.exact", "within"]
    ),
    modifiers,
)
clauses = st.builds(SearchClause, st.one_of(names, raw_terms), relations, raw_terms)
prefixes = st.lists(
    st.builds(PrefixAssignment, st.one_of(st.none(), names), raw_terms), min_size=1, max_size=2
).map(tuple)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(Triple, st.sampled_from(["and", "or", "not", "prox"]), modifiers, children, children),
        st.builds(Prefixed, prefixes, children),
    )


trees = st.recursive(clauses, _extend, max_leaves=8)
sort_specs = st.lists(st.builds(SortSpec, st.one_of(names, raw_terms), modifiers), max_size=2).map(tuple)
queries = st.builds(Query, trees, sort_specs)


@settings(max_examples=400)
@given(queries)
def test_rendered_trees_parse_back(query: Query) -> None:
    assert parse(to_cql(query)) == query
