"""Render a parse tree back to CQL text.

``parse(to_cql(tree)) == tree`` for every tree :func:`~protocols.cql.parse` returns (spans
aside). The text is canonical rather than faithful: every clause is written
``index relation term``, booleans and named relations as the tree holds them, terms and
values quoted whenever they are not plain words, and parentheses only where needed.
"""

from __future__ import annotations

from collections.abc import Sequence

from .ast import Modifier, Node, PrefixAssignment, Prefixed, Query, SearchClause
from .lexer import WORD_DELIMITERS

__all__ = ["quote", "to_cql"]


def quote(text: str) -> str:
    """``text`` as one CQL word, or in double quotes when it would not read back as one word.

    ``text`` is term text as the tree holds it, escapes included: it never contains an
    unescaped ``"`` nor ends in a lone backslash, so it is quoted as it stands. Keywords
    need no quotes: every place :func:`to_cql` writes a word takes any word.
    """
    if not text or any(c in WORD_DELIMITERS for c in text):
        return f'"{text}"'
    return text


def _modifiers(modifiers: Sequence[Modifier]) -> str:
    text = ""
    for m in modifiers:
        text += f"/{m.name}"
        if m.comparison is not None and m.value is not None:
            text += f"{m.comparison}{quote(m.value)}"
    return text


def _prefix(assignment: PrefixAssignment) -> str:
    uri = f'"{assignment.uri}"'
    return f">{quote(assignment.name)}={uri}" if assignment.name is not None else f">{uri}"


def _node(node: Node) -> str:
    if isinstance(node, SearchClause):
        relation = node.relation.base + _modifiers(node.relation.modifiers)
        return f"{quote(node.index)} {relation} {quote(node.term)}"
    if isinstance(node, Prefixed):
        body = _node(node.query)
        if isinstance(node.query, Prefixed):
            body = f"({body})"
        return " ".join(_prefix(p) for p in node.prefixes) + " " + body
    left = _node(node.left)
    if isinstance(node.left, Prefixed):
        left = f"({left})"
    right = _node(node.right)
    if not isinstance(node.right, SearchClause):
        right = f"({right})"
    return f"{left} {node.op}{_modifiers(node.modifiers)} {right}"


def to_cql(query: Query | Node) -> str:
    """CQL text for a tree or a whole query (with its ``sortBy`` keys)."""
    if not isinstance(query, Query):
        return _node(query)
    text = _node(query.root)
    if query.sort:
        keys = " ".join(quote(key.index) + _modifiers(key.modifiers) for key in query.sort)
        text = f"{text} sortBy {keys}"
    return text
