"""Bad queries: the diagnostic code and the offset where the problem is."""

from __future__ import annotations

import pytest

from protocols.cql import (
    AnchoringError,
    CQLError,
    CQLSyntaxError,
    EmptyTermError,
    SearchClause,
    TooManyBooleansError,
    UnbalancedParenthesesError,
    UnbalancedQuotesError,
    analyse_term,
    parse,
    reject_empty_terms,
)

BAD_QUERIES = [
    # (query, SRU diagnostic, offset)
    # nothing to search for
    ("", 10, 0),
    ("   ", 10, 3),
    # parentheses (13): an unclosed '(' is reported where it opens
    ("(", 13, 0),
    ("(a", 13, 0),
    ("((a)", 13, 0),
    ("(a and (b)", 13, 0),
    ("dc.title = (", 13, 11),
    ("a)", 13, 1),
    ("ndex any fish)", 13, 13),
    ("()", 13, 1),
    ("(cat any dog or ())", 13, 17),
    ("cat and )", 13, 8),
    ("cat sortby title)", 13, 16),
    # quotes (14): reported at the opening quote
    ('"abc', 14, 0),
    ('title = "abc', 14, 8),
    ('title = "a\\"', 14, 8),
    ('"a" and "b', 14, 8),
    # missing term after a relation
    ("title =", 10, 7),
    ("title any", 10, 9),
    ("index any\n", 10, 10),
    ("title = =", 10, 8),
    ("title = /", 10, 9),
    # dangling or misplaced booleans
    ("cat or", 10, 6),
    ("cat and ", 10, 8),
    ("cat not", 10, 7),
    ("cat prox/unit=word", 10, 18),
    # bad modifiers
    ("title =/(x) fish", 10, 8),
    ('title =/"stem" fish', 10, 8),
    ("title =/ = fish", 10, 9),
    ("title =/rel.algorithm= ", 10, 23),
    ("title =/rel.algorithm=) x", 13, 22),
    ("cat prox/=3 dog", 10, 9),
    ("cat and/", 10, 8),
    # sortBy
    ("cat sortby", 10, 10),
    ("cat sortBy   ", 10, 13),
    ("cat sortby =", 10, 11),
    ("cat sortby title/", 10, 17),
    ("(cat sortby title)", 10, 5),
    ("sortby sortby", 10, 13),
    # prefix assignments
    (">", 10, 1),
    ("> dc=", 10, 5),
    (">dc=x", 10, 5),
    ("> =x cat", 10, 2),
    # other grammar errors
    ("= cat", 10, 0),
    ("/ cat", 10, 0),
    ("title == fish = x", 10, 14),
    ("a b = c", 10, 4),
    ("cat dog (x)", 10, 8),
    ("a\\", 10, 1),
    ("cat comp.os.linux", 10, 17),
    ("cat\x00", 10, 3),
    ('a = "\x1b[31m"', 10, 5),
    ("\ud800", 10, 0),
]


@pytest.mark.parametrize(("query", "code", "position"), BAD_QUERIES, ids=[repr(q[0]) for q in BAD_QUERIES])
def test_bad_query_gives_diagnostic_and_position(query: str, code: int, position: int) -> None:
    with pytest.raises(CQLError) as caught:
        parse(query)
    error = caught.value
    assert (error.code, error.position) == (code, position), str(error)
    assert error.message
    assert error.uri == f"info:srw/diagnostic/1/{code}"
    assert str(error).endswith(f"(at offset {position})")


def test_error_classes_carry_their_codes() -> None:
    assert CQLError.code == CQLSyntaxError.code == 10
    assert UnbalancedParenthesesError.code == 13
    assert UnbalancedQuotesError.code == 14
    assert EmptyTermError.code == 27
    assert AnchoringError.code == 32
    assert TooManyBooleansError.code == 38
    assert issubclass(UnbalancedParenthesesError, CQLSyntaxError)
    assert issubclass(UnbalancedQuotesError, CQLSyntaxError)


def test_unclosed_parenthesis_message_names_it() -> None:
    with pytest.raises(UnbalancedParenthesesError, match="'\\(' at offset 11 is never closed"):
        parse("dc.title = (")


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    query = "(" * 5000 + "a" + ")" * 5000
    with pytest.raises(UnbalancedParenthesesError) as caught:
        parse(query)
    assert caught.value.position == 32  # the 33rd '('
    parse("(" * 32 + "a" + ")" * 32)
    assert parse("(" * 40 + "a" + ")" * 40, max_depth=40).root == parse("a").root


def test_deep_prefix_scopes_are_refused() -> None:
    query = " and ".join(f">p{i}=u{i} c{i}" for i in range(100))
    with pytest.raises(UnbalancedParenthesesError):
        parse(query)


def test_too_many_booleans() -> None:
    query = " or ".join(["a"] * 252)
    with pytest.raises(TooManyBooleansError) as caught:
        parse(query)
    assert caught.value.position == 2 + 5 * 250  # the 251st "or"
    parse(" or ".join(["a"] * 251))
    assert parse(query, max_booleans=300).root is not None


def test_empty_term_is_valid_cql_but_can_be_rejected() -> None:
    query = parse('title = fish or dc.title = ""')
    with pytest.raises(EmptyTermError) as caught:
        reject_empty_terms(query)
    assert (caught.value.code, caught.value.position) == (27, 16)
    reject_empty_terms(parse("title = fish"))


def test_misplaced_anchor() -> None:
    clause = parse('title = "ab^cd"').root
    assert isinstance(clause, SearchClause)
    with pytest.raises(AnchoringError) as caught:
        analyse_term(clause.term, clause.term_span.start)
    assert (caught.value.code, caught.value.position) == (32, 11)
