"""Optional semantic checks on a parsed query, for translators that need them.

The parser accepts whatever CQL's grammar accepts; an empty term (``title = ""``) is valid
CQL. A service that cannot search for it calls :func:`reject_empty_terms`, which raises
the SRU diagnostic 27 at the term's position.
"""

from __future__ import annotations

from .ast import Node, Query, SearchClause, search_clauses
from .errors import EmptyTermError

__all__ = ["empty_term_clauses", "reject_empty_terms"]


def empty_term_clauses(query: Query | Node) -> list[SearchClause]:
    """The search clauses whose term is the empty string, left to right."""
    return [clause for clause in search_clauses(query) if clause.term == ""]


def reject_empty_terms(query: Query | Node) -> None:
    """Raise :class:`~protocols.cql.errors.EmptyTermError` (27) for the first empty term."""
    for clause in empty_term_clauses(query):
        raise EmptyTermError(
            f"empty term in the search clause on {clause.index!r} is not supported", clause.span.start
        )
