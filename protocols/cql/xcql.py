"""XCQL: the XML form of a parsed CQL query.

Two layouts are produced, from the same tree:

:func:`to_xcql` (and :func:`to_xcql_string`)
    The layout of cql-java and of its regression corpus: the root is the ``triple`` or
    ``searchClause`` itself; prefix assignments in scope are the first child
    (``prefixes``) of the node they apply to, ``sortKeys`` the last child of the root. A
    prefix without a name has no ``name`` element. Namespace-less unless ``namespace``
    is given.

:func:`append_operand`
    The layout of the SRU 1.1/1.2 schema (``xcql.xsd``, type ``operandType``) for the
    ``xQuery`` echo: into a given container element, ``prefixes`` (if any) followed by the
    ``triple`` or ``searchClause``; inside a triple, each operand carries its own
    ``prefixes``. ``sortKeys`` has no place in that schema and is left out (SRU 1.2 echoes
    sorting separately); a prefix without a name gets an empty ``name``, which the schema
    requires. Elements are in :data:`XCQL_NAMESPACE` unless told otherwise.

Element order, both layouts: searchClause = index, relation (value, modifiers?), term;
triple = boolean (value, modifiers?), leftOperand, rightOperand; modifier = type
(comparison, value)?; sortKeys = key (index, modifiers?)*.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from .ast import Modifier, Node, PrefixAssignment, Prefixed, Query, SearchClause, SortSpec, Triple

__all__ = ["XCQL_NAMESPACE", "append_operand", "to_xcql", "to_xcql_string"]

#: Namespace of XCQL in SRU 1.x responses.
XCQL_NAMESPACE = "http://www.loc.gov/zing/cql/xcql/"


class _Builder:
    def __init__(self, namespace: str | None, schema_layout: bool) -> None:
        self.prefix = f"{{{namespace}}}" if namespace else ""
        self.nsmap = {None: namespace} if namespace else None
        self.schema_layout = schema_layout

    def new(self, parent: etree._Element | None, tag: str) -> etree._Element:
        if parent is None:
            return etree.Element(self.prefix + tag, nsmap=self.nsmap)
        return etree.SubElement(parent, self.prefix + tag)

    def sub(self, parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
        element = etree.SubElement(parent, self.prefix + tag)
        if text is not None:
            element.text = text
        return element

    def node(
        self, parent: etree._Element | None, node: Node, prefixes: Sequence[PrefixAssignment] = ()
    ) -> etree._Element:
        """``triple`` or ``searchClause`` for ``node``; cql-java layout puts ``prefixes`` inside."""
        prefixes, node = _collect_prefixes(node, prefixes)
        if isinstance(node, SearchClause):
            element = self.new(parent, "searchClause")
            self.prefixes(element, prefixes)
            self.sub(element, "index", node.index)
            relation = self.sub(element, "relation")
            self.sub(relation, "value", node.relation.base)
            self.modifiers(relation, node.relation.modifiers)
            self.sub(element, "term", node.term)
        else:
            element = self.new(parent, "triple")
            self.prefixes(element, prefixes)
            boolean = self.sub(element, "boolean")
            self.sub(boolean, "value", node.op)
            self.modifiers(boolean, node.modifiers)
            self.operand(self.sub(element, "leftOperand"), node.left)
            self.operand(self.sub(element, "rightOperand"), node.right)
        return element

    def operand(self, container: etree._Element, node: Node) -> None:
        if self.schema_layout:
            prefixes, node = _collect_prefixes(node, ())
            self.prefixes(container, prefixes, force=True)
        self.node(container, node)

    def prefixes(
        self, parent: etree._Element, prefixes: Sequence[PrefixAssignment], force: bool = False
    ) -> None:
        if not prefixes or (self.schema_layout and not force):
            return
        element = self.sub(parent, "prefixes")
        for assignment in prefixes:
            prefix = self.sub(element, "prefix")
            if assignment.name is not None or self.schema_layout:
                self.sub(prefix, "name", assignment.name or "")
            self.sub(prefix, "identifier", assignment.uri)

    def modifiers(self, parent: etree._Element, modifiers: Sequence[Modifier]) -> None:
        if not modifiers:
            return
        element = self.sub(parent, "modifiers")
        for modifier in modifiers:
            item = self.sub(element, "modifier")
            self.sub(item, "type", modifier.name)
            if modifier.comparison is not None and modifier.value is not None:
                self.sub(item, "comparison", modifier.comparison)
                self.sub(item, "value", modifier.value)

    def sort_keys(self, parent: etree._Element, keys: Sequence[SortSpec]) -> None:
        if not keys:
            return
        element = self.sub(parent, "sortKeys")
        for spec in keys:
            key = self.sub(element, "key")
            self.sub(key, "index", spec.index)
            self.modifiers(key, spec.modifiers)


def _collect_prefixes(
    node: Node, outer: Sequence[PrefixAssignment]
) -> tuple[list[PrefixAssignment], SearchClause | Triple]:
    """Prefix assignments of directly nested scopes, outermost first, and the node inside."""
    prefixes = list(outer)
    while isinstance(node, Prefixed):
        prefixes.extend(node.prefixes)
        node = node.query
    return prefixes, node


def to_xcql(query: Query | Node, namespace: str | None = None) -> etree._Element:
    """XCQL of ``query`` in cql-java's layout; the root is ``triple`` or ``searchClause``."""
    builder = _Builder(namespace, schema_layout=False)
    if isinstance(query, Query):
        root = builder.node(None, query.root)
        builder.sort_keys(root, query.sort)
        return root
    return builder.node(None, query)


def to_xcql_string(query: Query | Node, namespace: str | None = None, *, pretty: bool = True) -> str:
    """:func:`to_xcql` serialised as a Unicode string, without XML declaration."""
    text: str = etree.tostring(to_xcql(query, namespace), encoding="unicode", pretty_print=pretty)
    return text


def append_operand(
    container: etree._Element, query: Query | Node, namespace: str | None = XCQL_NAMESPACE
) -> etree._Element:
    """Fill ``container`` (e.g. SRU's ``xQuery``) with XCQL valid as ``xcql:operandType``.

    Returns ``container``. Sort keys are not written (see the module docstring).
    """
    builder = _Builder(namespace, schema_layout=True)
    builder.operand(container, query.root if isinstance(query, Query) else query)
    return container
