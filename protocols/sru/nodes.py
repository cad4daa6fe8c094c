"""The resolved query's nodes: what :mod:`protocols.sru.query` makes of a CQL tree.

Indexes looked up, relations checked, terms read; nothing of SQL (gateway.search.translate
turns these into a statement).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from protocols.sru.indexes import Index


@dataclass(frozen=True, slots=True)
class Word:
    text: str          # literal text, escapes resolved, masks removed
    prefix: bool = False  # right truncation: word*


@dataclass(frozen=True, slots=True)
class WordsClause:
    index: Index
    op: str                      # all | any | adj | exact
    words: tuple[Word, ...]
    anchored_start: bool = False
    anchored_end: bool = False


@dataclass(frozen=True, slots=True)
class ValueClause:
    index: Index
    values: tuple[str, ...]      # exact values, any of them matches


@dataclass(frozen=True, slots=True)
class RangeClause:
    """``low <= value < high`` (a bound of None is open); ``negate`` for ``<>``."""

    index: Index
    low: int | datetime | None
    high: int | datetime | None
    negate: bool = False


@dataclass(frozen=True, slots=True)
class AllClause:
    index: Index


@dataclass(frozen=True, slots=True)
class Boolean:
    op: str                      # and | or | not
    left: Expr
    right: Expr


Clause: TypeAlias = WordsClause | ValueClause | RangeClause | AllClause
Expr: TypeAlias = Clause | Boolean


@dataclass(frozen=True, slots=True)
class SortKey:
    key: str                     # title | creator | date | lastModified
    ascending: bool = True
    missing_high: bool = True    # missing values sort as if higher than any value
