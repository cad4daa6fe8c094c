"""The ``xQuery`` echo of SRU 1.1/1.2 (XCQL, ``xcql:operandType``) written as text.

The same layout as :func:`protocols.cql.xcql.append_operand` (a test checks they agree), written
with :class:`~protocols.sru.xmltext.Writer` instead of an lxml tree: building and serialising
the tree was the largest piece of the service's own time per search.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocols import cql
from protocols.cql.ast import Modifier, Node, PrefixAssignment, Prefixed, SearchClause
from protocols.cql.xcql import XCQL_NAMESPACE
from protocols.sru.xmltext import Writer


def xquery(query: cql.Query, container: str = "srw:xQuery") -> str:
    """``<srw:xQuery>`` holding the query's XCQL (sort keys are echoed elsewhere)."""
    w = Writer()
    w.open(container, {"xmlns:xcql": XCQL_NAMESPACE})
    _operand(w, query.root)
    w.close(container)
    return str(w)


def _operand(w: Writer, node: Node) -> None:
    prefixes: list[PrefixAssignment] = []
    while isinstance(node, Prefixed):
        prefixes.extend(node.prefixes)
        node = node.query
    if prefixes:
        w.open("xcql:prefixes")
        for assignment in prefixes:
            w.open("xcql:prefix")
            w.leaf("xcql:name", assignment.name or "")
            w.leaf("xcql:identifier", assignment.uri)
            w.close("xcql:prefix")
        w.close("xcql:prefixes")
    if isinstance(node, SearchClause):
        w.open("xcql:searchClause")
        w.leaf("xcql:index", node.index)
        w.open("xcql:relation")
        w.leaf("xcql:value", node.relation.base)
        _modifiers(w, node.relation.modifiers)
        w.close("xcql:relation")
        w.leaf("xcql:term", node.term)
        w.close("xcql:searchClause")
        return
    w.open("xcql:triple")
    w.open("xcql:boolean")
    w.leaf("xcql:value", node.op)
    _modifiers(w, node.modifiers)
    w.close("xcql:boolean")
    w.open("xcql:leftOperand")
    _operand(w, node.left)
    w.close("xcql:leftOperand")
    w.open("xcql:rightOperand")
    _operand(w, node.right)
    w.close("xcql:rightOperand")
    w.close("xcql:triple")


def _modifiers(w: Writer, modifiers: Sequence[Modifier]) -> None:
    if not modifiers:
        return
    w.open("xcql:modifiers")
    for modifier in modifiers:
        w.open("xcql:modifier")
        w.leaf("xcql:type", modifier.name)
        if modifier.comparison is not None and modifier.value is not None:
            w.leaf("xcql:comparison", modifier.comparison)
            w.leaf("xcql:value", modifier.value)
        w.close("xcql:modifier")
    w.close("xcql:modifiers")
