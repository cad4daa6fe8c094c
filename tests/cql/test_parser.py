"""The parse tree: shapes, normalisation, scoping and positions."""

from __future__ import annotations

import doctest

import pytest

import protocols.cql
from protocols.cql import (
    SERVER_CHOICE,
    XCQL_NAMESPACE,
    Modifier,
    PrefixAssignment,
    Prefixed,
    Query,
    Relation,
    SearchClause,
    SortSpec,
    Span,
    Triple,
    parse,
    prefix_scope,
    search_clauses,
    to_cql,
    to_xcql,
    to_xcql_string,
    walk,
)
from protocols.cql.lexer import TokenKind, tokenize


def clause(term: str, index: str = SERVER_CHOICE, relation: str = "=", *mods: Modifier) -> SearchClause:
    return SearchClause(index, Relation(relation, mods), term)


def test_package_doctest() -> None:
    assert doctest.testmod(protocols.cql).failed == 0


def test_bare_term_gets_server_choice() -> None:
    assert parse("cat") == Query(clause("cat"))
    assert parse('"cat dog"') == Query(clause("cat dog"))
    assert parse('""') == Query(clause(""))


def test_index_relation_term() -> None:
    assert parse("dc.title any fish").root == clause("fish", "dc.title", "any")
    assert parse("dc.date>=2001").root == clause("2001", "dc.date", ">=")
    assert parse('title cql.exact "a b"').root == clause("a b", "title", "cql.exact")
    assert parse("title scr x").root == clause("x", "title", "scr")


@pytest.mark.parametrize("symbol", ["=", "==", "<", ">", "<=", ">=", "<>"])
def test_symbolic_relations(symbol: str) -> None:
    assert parse(f"n {symbol} 4").root == clause("4", "n", symbol)
    assert parse(f"n{symbol}4").root == clause("4", "n", symbol)


@pytest.mark.parametrize("name", ["any", "all", "adj", "exact", "within", "encloses", "ANY", "Adj"])
def test_named_relations_keep_their_spelling(name: str) -> None:
    relation = parse(f"title {name} fish").root
    assert isinstance(relation, SearchClause)
    assert relation.relation.base == name
    assert relation.relation.name == name.lower()


def test_relation_modifiers() -> None:
    root = parse("title any/stem/rel.algorithm=CORI/Dist<3 fish").root
    assert isinstance(root, SearchClause)
    assert root.relation.modifiers == (
        Modifier("stem"),
        Modifier("rel.algorithm", "=", "CORI"),
        Modifier("dist", "<", "3"),
    )
    assert root.relation.modifier("REL.Algorithm") == Modifier("rel.algorithm", "=", "CORI")
    assert root.relation.modifier("fuzzy") is None


def test_booleans_equal_precedence_left_associative() -> None:
    a, b, c, d = (clause(x) for x in "abcd")
    assert parse("a or b and c not d").root == Triple(
        "not", (), Triple("and", (), Triple("or", (), a, b), c), d
    )
    assert parse("a AND (b Or c)").root == Triple("and", (), a, Triple("or", (), b, c))


def test_boolean_modifiers() -> None:
    root = parse("cat prox/distance<3/unit=word/ordered hat").root
    assert isinstance(root, Triple)
    assert root.op == "prox"
    assert root.modifiers == (
        Modifier("distance", "<", "3"),
        Modifier("unit", "=", "word"),
        Modifier("ordered"),
    )
    assert root.modifier("unit") == Modifier("unit", "=", "word")


def test_keywords_are_terms_where_no_operator_can_stand() -> None:
    assert parse("and").root == clause("and")
    assert parse("cat and prox").root == Triple("and", (), clause("cat"), clause("prox"))
    assert parse("title = sortby sortby x") == Query(clause("sortby", "title"), (SortSpec("x"),))


def test_adjacent_words_make_one_term() -> None:
    assert parse("title = cat dog").root == clause("cat dog", "title")
    assert parse('cat "dog"').root == clause("cat dog")
    assert parse("java 1.5").root == clause("java 1.5")


def test_prefix_assignments_are_scoped() -> None:
    query = parse('>dc="http://purl.org/dc/elements/1.1/" >"http://default" dc.title=x and y')
    assert query.root == Prefixed(
        (
            PrefixAssignment("dc", "http://purl.org/dc/elements/1.1/"),
            PrefixAssignment(None, "http://default"),
        ),
        Triple("and", (), clause("x", "dc.title"), clause("y")),
    )
    nested = parse(">dc=a (>dc=b dc.title=x) or dc.title=y")
    scopes = [
        (c.term, dict(s)) for c, s in prefix_scope(nested, {"cql": "info:srw/cql-context-set/1/cql-v1.2"})
    ]
    cql = "info:srw/cql-context-set/1/cql-v1.2"
    assert scopes == [("x", {"cql": cql, "dc": "b"}), ("y", {"cql": cql, "dc": "a"})]


def test_index_relation_before_a_group_is_inherited() -> None:
    assert parse("au=(kernighan or ritchie) and ti=unix").root == Triple(
        "and",
        (),
        Triple("or", (), clause("kernighan", "au"), clause("ritchie", "au")),
        clause("unix", "ti"),
    )


def test_sort_specs() -> None:
    query = parse("dc.creator=kernighan sortBy dc.title/sort.descending dc.date/sort.missingValue=1970")
    assert query.sort == (
        SortSpec("dc.title", (Modifier("sort.descending"),)),
        SortSpec("dc.date", (Modifier("sort.missingvalue", "=", "1970"),)),
    )
    assert query.sort[0].modifier("sort.Descending") is not None


def test_terms_keep_escapes_and_masking() -> None:
    assert parse(r'"^cat says \"fish\""').root == clause(r"^cat says \"fish\"")
    assert parse(r"te\rm\*\?\^").root == clause(r"te\rm\*\?\^")
    assert parse(r"a\(b\)").root == clause(r"a\(b\)")
    assert parse(r"a\ b").root == clause(r"a\ b")


def test_spans() -> None:
    query = 'dc.title any/stem "fish" and  >x=y au=(a or b) sortBy t/sort.descending'
    tree = parse(query)
    root = tree.root
    assert isinstance(root, Triple)
    left, right = root.left, root.right
    assert isinstance(left, SearchClause)
    assert isinstance(right, Prefixed)
    text = lambda span: query[span.start : span.end]  # noqa: E731
    assert text(left.span) == 'dc.title any/stem "fish"'
    assert text(left.term_span) == "fish"
    assert text(left.relation.span) == "any/stem"
    assert text(left.relation.modifiers[0].span) == "/stem"
    assert text(root.op_span) == "and"
    assert text(root.span) == query[: query.index(" sortBy")]
    assert text(right.span) == ">x=y au=(a or b)"
    assert text(right.prefixes[0].span) == ">x=y"
    inner = right.query
    assert isinstance(inner, Triple)
    assert isinstance(inner.left, SearchClause)
    assert text(inner.span) == "au=(a or b)"
    assert text(inner.left.span) == "a"
    assert parse(" ((a)) ").root.span == Span(1, 6)
    assert text(tree.sort[0].span) == "t/sort.descending"


def test_spans_do_not_take_part_in_equality() -> None:
    assert parse("a  and   b") == parse("a and b")
    assert parse("a") == Query(SearchClause(SERVER_CHOICE, Relation("=", (), Span(5, 6)), "a"))


def test_tokens_have_exact_positions() -> None:
    query = 'ab>="c d" (/x) <>=='
    tokens = tokenize(query)
    assert [(t.kind, t.text, t.start, t.end) for t in tokens] == [
        (TokenKind.WORD, "ab", 0, 2),
        (TokenKind.COMPARISON, ">=", 2, 4),
        (TokenKind.STRING, "c d", 4, 9),
        (TokenKind.LPAREN, "(", 10, 11),
        (TokenKind.SLASH, "/", 11, 12),
        (TokenKind.WORD, "x", 12, 13),
        (TokenKind.RPAREN, ")", 13, 14),
        (TokenKind.COMPARISON, "<>", 15, 17),
        (TokenKind.COMPARISON, "==", 17, 19),
        (TokenKind.EOF, "", 19, 19),
    ]


def test_walk_and_search_clauses() -> None:
    query = parse(">p=u a and (b or c)")
    assert [type(n).__name__ for n in walk(query)] == [
        "Prefixed", "Triple", "SearchClause", "Triple", "SearchClause", "SearchClause",
    ]  # fmt: skip
    assert [c.term for c in search_clauses(query)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("cat", "cql.serverChoice = cat"),
        ('title any/stem "fish chips" or dc.date>2001', 'title any/stem "fish chips" or dc.date > 2001'),
        ("a and (b or c)", "cql.serverChoice = a and (cql.serverChoice = b or cql.serverChoice = c)"),
        ('>"u" x sortBy t/sort.descending', '>"u" cql.serverChoice = x sortBy t/sort.descending'),
        ('t = ""', 't = ""'),
        (r"t = a\ b", r't = "a\ b"'),
        ('t =/x="a b" c', 't =/x="a b" c'),
    ],
)
def test_to_cql(query: str, text: str) -> None:
    assert to_cql(parse(query)) == text
    assert parse(text) == parse(query)


def test_xcql_namespace_parameter() -> None:
    query = parse("a and b sortBy c")
    plain = to_xcql(query)
    assert plain.tag == "triple"
    assert plain.nsmap == {}
    zing = to_xcql(query, XCQL_NAMESPACE)
    assert all(e.tag.startswith(f"{{{XCQL_NAMESPACE}}}") for e in zing.iter())
    assert to_xcql_string(query, XCQL_NAMESPACE).count("xmlns") == 1
    assert plain[-1].tag == "sortKeys"
