"""Masking (* ?), escapes and anchoring (^) in terms."""

from __future__ import annotations

import pytest

from protocols.cql import AnchoringError, Mask, SearchClause, TermPattern, analyse_term, has_masking, parse

MANY, ONE = Mask.MANY, Mask.ONE


@pytest.mark.parametrize(
    ("term", "parts"),
    [
        ("cat", ("cat",)),
        ("cat*", ("cat", MANY)),
        ("*cat", (MANY, "cat")),
        ("c*t", ("c", MANY, "t")),
        ("c?t", ("c", ONE, "t")),
        ("*", (MANY,)),
        ("", ()),
        (r"a\*b", ("a*b",)),
        (r"a\?", ("a?",)),
        (r"\^a\^", ("^a^",)),
        (r"a\\*", ("a\\", MANY)),
        (r"say \"hi\"", ('say "hi"',)),
        (r"te\rm", ("term",)),
        ("a\\", ("a\\",)),
    ],
)
def test_parts(term: str, parts: tuple[str | Mask, ...]) -> None:
    assert analyse_term(term).parts == parts


def test_right_truncation() -> None:
    pattern = analyse_term("librar*")
    assert pattern.right_truncated
    assert not pattern.left_truncated
    assert not pattern.inner_masking
    assert pattern.literal == "librar"
    assert not analyse_term("*").right_truncated
    assert not analyse_term("a*b*").right_truncated
    assert not analyse_term(r"ab\*").right_truncated


def test_left_and_inner_masking() -> None:
    assert analyse_term("*ology").left_truncated
    assert not analyse_term("*olog*").left_truncated
    assert analyse_term("wom?n").inner_masking
    assert analyse_term("wom?n").single_char_masking
    assert analyse_term("colo*r").inner_masking
    assert not analyse_term("colour*").inner_masking
    assert not analyse_term("colour?").inner_masking
    assert analyse_term("colour?").single_char_masking


def test_plain_and_empty() -> None:
    assert analyse_term(r"no \*masking\?").is_plain
    assert not analyse_term("x*").is_plain
    assert analyse_term("").is_empty
    assert analyse_term("^").is_empty
    assert not analyse_term("*").is_empty


@pytest.mark.parametrize(
    ("term", "start", "end", "literal"),
    [
        ("^cat", True, False, "cat"),
        ("cat^", False, True, "cat"),
        ("^cat^", True, True, "cat"),
        ("^", True, False, ""),
        ("^^", True, True, ""),
        (r"\^cat", False, False, "^cat"),
        (r"cat\^", False, False, "cat^"),
    ],
)
def test_anchoring(term: str, start: bool, end: bool, literal: str) -> None:
    pattern = analyse_term(term)
    assert (pattern.anchored_start, pattern.anchored_end, pattern.literal) == (start, end, literal)


def test_anchor_inside_a_term_is_diagnostic_32_at_its_position() -> None:
    clause = parse('title = "the ^end"').root
    assert isinstance(clause, SearchClause)
    with pytest.raises(AnchoringError) as caught:
        analyse_term(clause.term, clause.term_span.start)
    assert caught.value.position == len('title = "the ')


def test_has_masking() -> None:
    assert has_masking("a*")
    assert has_masking("?")
    assert not has_masking(r"a\*\?")
    assert not has_masking("^a^")


def test_pattern_is_a_value() -> None:
    assert analyse_term("a*") == TermPattern(("a", MANY))
