"""What the service can search: context sets, indexes, their relations, sort and scan support.

One table drives the query resolver (:mod:`protocols.sru.query`), the explain record and the
SQL translator, so what explain advertises is exactly what a query may use.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    WORDS = "words"            # folded words: all / any / adj, right truncation
    YEAR = "year"              # four-digit year: comparisons and within
    DATETIME = "datetime"      # ISO 8601 date or time: comparisons and within
    IDENTIFIER = "identifier"  # normalised identifiers: exact values
    CODE = "code"              # codes (language, sigel, supplier, encoding level): exact values
    ALL = "all"                # cql.allRecords


@dataclass(frozen=True, slots=True)
class ContextSet:
    name: str          # the prefix the service knows it by
    identifier: str    # the URI announced in explain
    title: str
    aliases: tuple[str, ...] = ()  # other URIs accepted in prefix assignments


CONTEXT_SETS: tuple[ContextSet, ...] = (
    ContextSet("cql", "info:srw/cql-context-set/1/cql-v1.2", "CQL context set",
               ("info:srw/cql-context-set/1/cql-v1.1",)),
    ContextSet("dc", "info:srw/cql-context-set/1/dc-v1.1", "Dublin Core context set",
               ("http://purl.org/dc/elements/1.1/",)),
    ContextSet("bath", "http://zing.z3950.org/cql/bath/2.0/", "Bath context set"),
    ContextSet("rec", "info:srw/cql-context-set/2/rec-1.1", "Record metadata context set",
               ("info:srw/cql-context-set/2/rec-1.0",)),
    ContextSet("forvarv", "https://forvarv.example.org/cql-context-set/1.0", "Förvärv gateway local indexes"),
)

#: URI (any accepted form) -> context set name.
SET_BY_URI: dict[str, str] = {
    uri: cs.name for cs in CONTEXT_SETS for uri in (cs.identifier, *cs.aliases)
}
SET_NAMES = frozenset(cs.name for cs in CONTEXT_SETS)
#: Where an index name without a prefix is looked up: every set explain lists, in this order.
UNPREFIXED_ORDER: tuple[str, ...] = tuple(cs.name for cs in CONTEXT_SETS)

WORD_RELATIONS = frozenset({"=", "all", "any", "adj"})
EXACT = "=="
COMPARISONS = frozenset({"=", "==", "<", ">", "<=", ">=", "<>", "within"})
VALUE_RELATIONS = frozenset({"=", "==", "any"})


@dataclass(frozen=True, slots=True)
class Index:
    set: str
    name: str
    title: str
    kind: Kind
    #: What the backend searches: a field name the translator maps to SQL.
    field: str
    relations: frozenset[str]
    #: Sort key name (title, creator, date, lastModified) or None.
    sort: str | None = None
    scan: bool = False
    #: ``^`` at the start or end of the term is supported.
    anchoring: bool = False

    @property
    def qualified(self) -> str:
        return f"{self.set}.{self.name}"


_WORDS_EXACT = WORD_RELATIONS | {EXACT}

INDEXES: tuple[Index, ...] = (
    Index("cql", "serverChoice", "Keywords (all fields)", Kind.WORDS, "keywords", WORD_RELATIONS),
    Index("cql", "keywords", "Keywords (all fields)", Kind.WORDS, "keywords", WORD_RELATIONS),
    Index("cql", "allRecords", "All records", Kind.ALL, "all", frozenset({"=", "=="})),
    Index("dc", "title", "Title", Kind.WORDS, "title", _WORDS_EXACT, sort="title", scan=True,
          anchoring=True),
    Index("dc", "creator", "Creator (author, contributor)", Kind.WORDS, "creator", _WORDS_EXACT,
          sort="creator", scan=True),
    Index("dc", "subject", "Subject", Kind.WORDS, "subject", _WORDS_EXACT, scan=True),
    Index("dc", "publisher", "Publisher", Kind.WORDS, "publisher", WORD_RELATIONS),
    Index("dc", "date", "Year of publication", Kind.YEAR, "year", COMPARISONS, sort="date"),
    Index("dc", "identifier", "Any identifier (ISBN, ISSN, EAN, system number, record id)",
          Kind.IDENTIFIER, "identifier", VALUE_RELATIONS),
    Index("dc", "language", "Language (MARC code)", Kind.CODE, "language", VALUE_RELATIONS),
    Index("bath", "isbn", "ISBN (ISBN-10 or ISBN-13, with or without hyphens)", Kind.IDENTIFIER,
          "isbn", VALUE_RELATIONS, scan=True),
    Index("bath", "issn", "ISSN", Kind.IDENTIFIER, "issn", VALUE_RELATIONS),
    Index("bath", "standardIdentifier", "EAN / GTIN", Kind.IDENTIFIER, "ean", VALUE_RELATIONS),
    Index("bath", "possessingInstitution", "Holding library (sigel)", Kind.CODE, "sigel",
          VALUE_RELATIONS),
    Index("rec", "id", "Record id (001)", Kind.IDENTIFIER, "id", VALUE_RELATIONS),
    Index("rec", "lastModified", "Last modified (ISO 8601, UTC)", Kind.DATETIME, "modified",
          COMPARISONS, sort="lastModified"),
    Index("forvarv", "supplier", "Supplier code (suppliers that delivered the record)", Kind.CODE,
          "supplier", VALUE_RELATIONS),
    Index("forvarv", "encodingLevel", "Encoding level (Leader/17; 'blank' for full level)",
          Kind.CODE, "encodingLevel", VALUE_RELATIONS),
)

_BY_NAME: dict[tuple[str, str], Index] = {(i.set, i.name.lower()): i for i in INDEXES}

#: Sort key name -> the index that provides it.
SORT_KEYS: dict[str, Index] = {i.sort: i for i in INDEXES if i.sort}


def lookup(set_name: str, index_name: str) -> Index | None:
    """The index ``index_name`` (case-insensitive) of the context set ``set_name``."""
    return _BY_NAME.get((set_name, index_name.lower()))
