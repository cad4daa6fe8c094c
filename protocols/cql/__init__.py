"""CQL 1.2 (Contextual Query Language) parser: query string to typed parse tree.

Pure Python, no SQL: translators to SQL and protocol front-ends build on the tree.

>>> from protocols.cql import parse, to_cql
>>> q = parse('dc.title any/stem "fish chips" and dc.date > 2001 sortBy dc.date/sort.descending')
>>> q.root.op, q.root.left.relation.modifiers[0].name, q.sort[0].modifier("sort.descending") is not None
('and', 'stem', True)
>>> to_cql(q)
'dc.title any/stem "fish chips" and dc.date > 2001 sortBy dc.date/sort.descending'

Modules: :mod:`.lexer` (tokens with positions), :mod:`.parser` (:func:`parse`), :mod:`.ast`
(the tree, documented there), :mod:`.errors` (:class:`CQLError` and SRU diagnostic codes),
:mod:`.masking` (``*`` ``?`` ``^`` in terms), :mod:`.checks` (empty terms), :mod:`.xcql`
(XCQL output), :mod:`.unparse` (back to CQL text).
"""

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
    prefix_scope,
    search_clauses,
    walk,
)
from .checks import empty_term_clauses, reject_empty_terms
from .errors import (
    AnchoringError,
    CQLError,
    CQLSyntaxError,
    EmptyTermError,
    TooManyBooleansError,
    UnbalancedParenthesesError,
    UnbalancedQuotesError,
)
from .masking import Mask, TermPattern, analyse_term, has_masking
from .parser import parse
from .unparse import to_cql
from .xcql import XCQL_NAMESPACE, append_operand, to_xcql, to_xcql_string

__all__ = [
    "SERVER_CHOICE",
    "XCQL_NAMESPACE",
    "AnchoringError",
    "CQLError",
    "CQLSyntaxError",
    "EmptyTermError",
    "Mask",
    "Modifier",
    "Node",
    "PrefixAssignment",
    "Prefixed",
    "Query",
    "Relation",
    "SearchClause",
    "SortSpec",
    "Span",
    "TermPattern",
    "TooManyBooleansError",
    "Triple",
    "UnbalancedParenthesesError",
    "UnbalancedQuotesError",
    "analyse_term",
    "append_operand",
    "empty_term_clauses",
    "has_masking",
    "parse",
    "prefix_scope",
    "reject_empty_terms",
    "search_clauses",
    "to_cql",
    "to_xcql",
    "to_xcql_string",
    "walk",
]
