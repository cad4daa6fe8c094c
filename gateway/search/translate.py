"""Resolved CQL (protocols.sru.query) to a parameterised SQL condition over ``bib_search s``.

(The S608 suppressions below mark statements assembled from this module's fixed fragments and
``$n`` placeholders only.)

Nothing from the query is ever put into the SQL text: every term, word and value becomes a
``$n`` parameter; the text holds only column names and operators chosen from fixed tables.
Term folding happens in PostgreSQL (``search_fold``, ``search_tsquery``: the functions the
index is built with), wrapped in scalar subqueries so it runs once per statement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from stdnum import ean as std_ean

from protocols.marc.identifiers import normalize_ean, normalize_isbn, normalize_issn, normalize_sysno
from protocols.sru import diagnostics as d
from protocols.sru.query import (
    AllClause,
    Boolean,
    Expr,
    RangeClause,
    SortKey,
    ValueClause,
    WordsClause,
)

#: The weight of each field's words in ``s.words`` ('' = any field).
WORD_WEIGHTS = {"keywords": "", "title": "A", "creator": "B", "subject": "C", "publisher": "D"}
#: The modification time is not copied into bib_search (an update that keeps the summary leaves
#: the index alone), so it is read from the record.
_MODIFIED = "(SELECT b.modified_at FROM bib_records b WHERE b.id = s.bib_id)"
SORT_COLUMNS = {
    "title": "s.title_key",
    "creator": "s.creator_key",
    "date": "s.year",
    "lastModified": _MODIFIED,
}
#: search_terms.term is this letter followed by the folded value.
TERM_KINDS = {"creator": "c", "subject": "s"}
_MAX_CHAR = "\U0010ffff"
_NON_DIGITS = re.compile(r"[^0-9Xx]")


@dataclass(slots=True)
class Params:
    values: list[object] = field(default_factory=list)

    def add(self, value: object, cast: str = "") -> str:
        """A placeholder for ``value``, hidden from the planner in a scalar subquery.

        Plans then never depend on the values, so PostgreSQL settles on one generic plan per
        prepared statement instead of planning every request again (which cost more than
        running an ISBN lookup)."""
        self.values.append(value)
        # The trailing cast keeps an array an expression: "= ANY ((SELECT ...))" would be a
        # subquery comparison.
        return f"(SELECT ${len(self.values)}{cast}){cast}"

    def add_plain(self, value: object, cast: str = "") -> str:
        """A plain placeholder (LIMIT, OFFSET)."""
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def condition(expr: Expr, params: Params) -> str:
    """SQL boolean expression over ``bib_search s`` for ``expr``."""
    if isinstance(expr, Boolean):
        left = condition(expr.left, params)
        right = condition(expr.right, params)
        if expr.op == "and":
            return f"({left} AND {right})"
        if expr.op == "or":
            return f"({left} OR {right})"
        return f"({left} AND NOT coalesce({right}, false))"
    if isinstance(expr, AllClause):
        return "true"
    if isinstance(expr, WordsClause):
        return _words(expr, params)
    if isinstance(expr, RangeClause):
        return _range(expr, params)
    return _values(expr, params)


def _fold(text: str, params: Params) -> str:
    return f"(SELECT search_fold({params.add_plain(text, '::text')}))"


def _words(clause: WordsClause, params: Params) -> str:
    field_name = clause.index.field
    joined = " ".join(word.text for word in clause.words)
    prefix = clause.words[-1].prefix
    if clause.op == "exact":
        return _exact(field_name, joined, prefix, params)
    weight = WORD_WEIGHTS[field_name]
    anchored = clause.anchored_start or clause.anchored_end
    op = "adj" if anchored else clause.op
    match = f"s.words @@ {_tsquery(clause, op, weight, params)}"
    if field_name == "publisher":
        # D also holds the summary's other words: the publisher's own decide (on the index's
        # candidates only).
        match = (f"({match} AND to_tsvector('simple'::regconfig, coalesce(s.publisher_key, ''))"
                 f" @@ {_tsquery(clause, op, '', params)})")
    if not anchored:
        return match
    # Titles only (the resolver allows ^ nowhere else): the folded title key decides.
    folded = _fold(joined, params)
    if clause.anchored_start and clause.anchored_end:
        anchor = f"starts_with(s.title_key, {folded})" if prefix else f"s.title_key = {folded}"
    elif clause.anchored_start:
        anchor = (f"starts_with(s.title_key, {folded})" if prefix
                  else f"(s.title_key = {folded} OR starts_with(s.title_key, {folded} || ' '))")
    else:
        anchor = f"(s.title_key = {folded} OR right(s.title_key, length({folded}) + 1) = ' ' || {folded})"
    return f"({match} AND {anchor})"


def _tsquery(clause: WordsClause, op: str, weight: str, params: Params) -> str:
    """The clause's tsquery, made once per statement: search_tsquery (migration 0003), or for one
    word the same query written inline. search_fold leaves runs of letters and digits separated
    by single spaces, so quoting each lexeme and joining them with <-> is what search_tsquery does
    for one word, without its plpgsql (about a third of a one-word count's PostgreSQL time)."""
    if len(clause.words) == 1:
        word = params.add_plain(clause.words[0].text, "::text")
        each = f":{weight}" if weight else ""  # weight is a letter of WORD_WEIGHTS
        last = f":*{weight}" if clause.words[0].prefix else each
        quoted = "''''"  # SQL for a string holding one quote
        return (f"(SELECT to_tsquery('simple'::regconfig, CASE WHEN w.f = '' THEN '' ELSE"  # noqa: S608
                f" {quoted} || replace(w.f, ' ', '''{each} <-> ''') || '''{last}' END)"
                f" FROM (SELECT search_fold({word}) AS f) AS w)")
    words = params.add_plain([w.text for w in clause.words], "::text[]")
    prefixes = params.add_plain([w.prefix for w in clause.words], "::boolean[]")
    op_param = params.add_plain(op, "::text")
    return f"(SELECT search_tsquery({words}, {prefixes}, {op_param}, '{weight}'))"


def _exact(field_name: str, text: str, prefix: bool, params: Params) -> str:
    """The whole folded value: the title key, or a creator's or subject's scan term."""
    if field_name != "title" and field_name not in TERM_KINDS:
        raise d.UnsupportedRelation(f"== on {field_name}")
    folded = _fold(text, params)
    if field_name == "title":
        column = "s.title_key"
        if prefix:
            return f"({column} >= {folded} AND {column} < {folded} || {params.add(_MAX_CHAR, '::text')})"
        return f"{column} = {folded}"
    kind = params.add(TERM_KINDS[field_name], "::text")
    if prefix:
        match = f"t.term >= {kind} || {folded} AND t.term < {kind} || {folded} || {params.add(_MAX_CHAR, '::text')}"
    else:
        match = f"t.term = {kind} || {folded}"
    return f"s.bib_id IN (SELECT t.bib_id FROM search_terms t WHERE {match})"  # noqa: S608


def _range(clause: RangeClause, params: Params) -> str:
    year = clause.index.field == "year"
    column = "s.year" if year else "b.modified_at"
    cast = "::integer" if year else "::timestamptz"
    parts = []
    if clause.low is not None:
        parts.append(f"{column} >= {params.add(clause.low, cast)}")
    if clause.high is not None:
        parts.append(f"{column} < {params.add(clause.high, cast)}")
    test = " AND ".join(parts) or "true"
    if not year:  # through bib_records' datestamp index; bib_search holds live records only
        test = f"s.bib_id IN (SELECT b.id FROM bib_records b WHERE {test})"  # noqa: S608
    return f"NOT coalesce(({test}), false)" if clause.negate else f"({test})"


def _identifiers(kinds_values: Sequence[tuple[str, str]], params: Params) -> str:
    if not kinds_values:
        return "false"  # no value could be an identifier of this kind
    if len({k for k, _ in kinds_values}) == 1:
        kind = params.add(kinds_values[0][0], "::text")
        values = params.add([v for _, v in kinds_values], "::text[]")
        return (f"s.bib_id IN (SELECT i.bib_id FROM bib_identifiers i"  # noqa: S608
                f" WHERE i.kind = {kind} AND i.value = ANY({values}))")
    kinds = params.add([k for k, _ in kinds_values], "::text[]")
    values = params.add([v for _, v in kinds_values], "::text[]")
    return (
        "s.bib_id IN (SELECT i.bib_id FROM bib_identifiers i"  # noqa: S608
        f" JOIN unnest({kinds}, {values}) AS q (kind, value) ON i.kind = q.kind AND i.value = q.value)"
    )


def _isbn(value: str) -> str:
    isbn13, _ = normalize_isbn(value)
    return isbn13 or _NON_DIGITS.sub("", value).upper()


def _issn(value: str) -> str:
    return normalize_issn(value) or value.strip().upper()


def _ean(value: str) -> str:
    """The stored form (protocols.marc.identifiers.normalize_ean) of what looks like a GTIN."""
    digits = re.sub(r"[\s-]", "", value)
    return normalize_ean(digits) if digits.isdigit() and len(digits) <= 14 else digits


def _any_identifier(value: str) -> list[tuple[str, str]]:
    """Every stored form ``value`` could take: ISBN, ISSN, EAN, system number, supplier id."""
    out: list[tuple[str, str]] = []
    isbn13, _ = normalize_isbn(value)
    if isbn13:
        out.append(("isbn", isbn13))
    issn = normalize_issn(value)
    if issn:
        out.append(("issn", issn))
    digits = _ean(value)
    if digits.isdigit() and std_ean.is_valid(digits):
        out.append(("ean", digits))
    sysno = normalize_sysno(value)
    if sysno:
        out.append(("sysno", sysno))
        out.append(("supplier", sysno))
    return out


def _values(clause: ValueClause, params: Params) -> str:
    field_name = clause.index.field
    values = clause.values
    if field_name == "isbn":
        return _identifiers([("isbn", _isbn(v)) for v in values], params)
    if field_name == "issn":
        return _identifiers([("issn", _issn(v)) for v in values], params)
    if field_name == "ean":
        return _identifiers([("ean", _ean(v)) for v in values], params)
    if field_name == "identifier":
        pairs = [pair for v in values for pair in _any_identifier(v)]
        ids = [int(v) for v in values if v.isdigit() and len(v) < 19]
        test = _identifiers(pairs, params)
        return f"({test} OR s.bib_id = ANY({params.add(ids, '::bigint[]')}))" if ids else test
    if field_name == "id":
        if not all(v.isdigit() and len(v) < 19 for v in values):
            raise d.InvalidTermFormat(f"rec.id wants a record number, not {' '.join(values)!r}")
        return f"s.bib_id = ANY({params.add([int(v) for v in values], '::bigint[]')})"
    if field_name == "language":
        return f"s.language = ANY({params.add([v.lower() for v in values], '::text[]')})"
    if field_name == "sigel":
        sigels = params.add(list(values), "::text[]")
        return (f"s.bib_id IN (SELECT h.bib_id FROM holdings h"  # noqa: S608
                f" WHERE h.sigel = ANY({sigels}) AND NOT h.deleted)")
    if field_name == "supplier":
        codes = params.add([v.lower() for v in values], "::text[]")
        return ("s.bib_id IN (SELECT bs.bib_id FROM bib_suppliers bs JOIN suppliers su"  # noqa: S608
                f" ON su.id = bs.supplier_id WHERE lower(su.code) = ANY({codes}))")
    if field_name == "encodingLevel":
        levels = [_encoding_level(v) for v in values]
        return f"s.encoding_level = ANY({params.add(levels, '::char(1)[]')})"
    raise d.UnsupportedIndex(clause.index.qualified)


def _encoding_level(value: str) -> str:
    if value.lower() in ("blank", "full", "#", "_"):
        return " "
    if len(value) != 1:
        raise d.InvalidTermFormat(f"an encoding level is one character (or 'blank'), not {value!r}")
    return value


def order_by(sort: Sequence[SortKey], columns: Sequence[str]) -> str:
    """ORDER BY items for ``sort`` over the given column expressions, then the record id."""
    items = []
    for key, column in zip(sort, columns, strict=True):
        direction = "ASC" if key.ascending else "DESC"
        nulls = "LAST" if key.missing_high == key.ascending else "FIRST"
        items.append(f"{column} {direction} NULLS {nulls}")
    return ", ".join(items)
