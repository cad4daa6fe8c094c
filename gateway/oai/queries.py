"""SQL of the OAI repository, composed from fixed fragments (values are always parameters).

Every list query is a keyset scan: `(datestamp, id) > ($1, $2) AND datestamp < $3 ORDER BY
datestamp, id LIMIT $4` on an index that has exactly that order, so page N costs what page 1
costs. Columns of every item query: kind (0 bib, 1 hold), id, ds, deleted, sigel (a holding's
library; for bib:SIGEL that library), marcxml, xml_unsafe, summary, hxml (bib:SIGEL with
holdings: that library's holdings record). What a bib's header and marc21_withholdings need
from its other rows (libraries, suppliers, holdings records) is fetched for a whole page at
once with SETS.
"""

# Queries are joined from the constant fragments below only; no value ever enters the text.
# ruff: noqa: S608

from __future__ import annotations

import functools

from protocols.oai.repository import BIB, HOLD, Payload, Scope


def _bib_columns(payload: Payload, deleted: str, library: bool) -> str:
    live = f"NOT ({deleted})"
    sigel = "h.sigel" if library else "NULL::text"
    marcxml = "NULL::text, true"
    if payload in (Payload.MARCXML, Payload.WITH_HOLDINGS):
        marcxml = f"CASE WHEN {live} THEN b.marcxml END, b.xml_unsafe"
    summary = f"CASE WHEN {live} THEN b.summary END" if payload is Payload.SUMMARY else "NULL::jsonb"
    hxml = "h.marcxml" if library and payload is Payload.WITH_HOLDINGS else "NULL::text"
    return f"0 AS kind, b.id, {{ds}} AS ds, ({deleted}) AS deleted, {sigel}, {marcxml}, {summary}, {hxml}"


def _hold_columns(payload: Payload) -> str:
    marcxml = "NULL::text, true"
    if payload is not Payload.NONE:
        marcxml = "CASE WHEN NOT h.deleted THEN h.marcxml END, h.xml_unsafe"
    return f"1 AS kind, h.id, h.modified_at AS ds, h.deleted, h.sigel, {marcxml}, NULL::jsonb, NULL::text"


def _delivered_by(code: str) -> str:
    """The condition on bib `b` of set supplier:CODE, with the code in parameter `code`."""
    return f""" AND EXISTS (SELECT 1 FROM bib_suppliers bs JOIN suppliers s ON s.id = bs.supplier_id
                        WHERE bs.bib_id = b.id AND s.code = {code})"""


def _bibs(payload: Payload, supplier: bool) -> str:
    """Bibs by (modified_at, id); optionally only those a supplier ($5, its code) delivered."""
    only = _delivered_by("$5") if supplier else ""
    columns = _bib_columns(payload, "b.deleted", False).format(ds="b.modified_at")
    return f"""
SELECT {columns}
FROM bib_records b
WHERE (b.modified_at, b.id) > ($1, $2) AND b.modified_at < $3{only}
ORDER BY b.modified_at, b.id
LIMIT $4"""


def _library_bibs(payload: Payload) -> str:
    """Bibs of library $5 by (set_datestamp, bib_id); its deleted holding makes the bib deleted."""
    columns = _bib_columns(payload, "h.deleted OR b.deleted", True).format(ds="h.set_datestamp")
    return f"""
SELECT {columns}
FROM holdings h JOIN bib_records b ON b.id = h.bib_id
WHERE h.sigel = $5 AND (h.set_datestamp, h.bib_id) > ($1, $2) AND h.set_datestamp < $3
ORDER BY h.set_datestamp, h.bib_id
LIMIT $4"""


def _holdings(payload: Payload, library: bool, after_id: str = "$2") -> str:
    only = "h.sigel = $5 AND " if library else ""
    return f"""
SELECT {_hold_columns(payload)}
FROM holdings h
WHERE {only}(h.modified_at, h.id) > ($1, {after_id}) AND h.modified_at < $3
ORDER BY h.modified_at, h.id
LIMIT $4"""


@functools.cache
def list_items(scope: Scope, payload: Payload) -> str:
    """Parameters: $1 position datestamp, $2 position id, $3 upper bound, $4 limit, [$5 code].

    Scope "all" merges both tables: at equal datestamps bibs sort before holdings, so the
    holdings branch continues after its own id, $5 ($2 belongs to the bibs).
    """
    if scope.kind == "all":
        return f"""
({_bibs(payload, False)})
UNION ALL
({_holdings(payload, False, "$5")})
ORDER BY ds, kind, id
LIMIT $4"""
    if scope.kind == BIB:
        if scope.sigel is not None:
            return _library_bibs(payload)
        return _bibs(payload, scope.supplier is not None)
    assert scope.kind == HOLD
    return _holdings(payload, scope.sigel is not None)


@functools.cache
def get_item(kind: str, payload: Payload) -> str:
    if kind == BIB:
        columns = _bib_columns(payload, "b.deleted", False).format(ds="b.modified_at")
        return f"SELECT {columns} FROM bib_records b WHERE b.id = $1"
    return f"SELECT {_hold_columns(payload)} FROM holdings h WHERE h.id = $1"


# For the live bibs of a page ($1): libraries with a live holding (with its record if $2) and
# the codes of the suppliers that delivered them.
SETS = """
SELECT h.bib_id, h.sigel, NULL::text AS code, CASE WHEN $2 THEN h.marcxml END AS marcxml
FROM holdings h WHERE h.bib_id = ANY($1::bigint[]) AND NOT h.deleted
UNION ALL
SELECT bs.bib_id, NULL, s.code, NULL
FROM bib_suppliers bs JOIN suppliers s ON s.id = bs.supplier_id WHERE bs.bib_id = ANY($1::bigint[])"""

_COUNT_BIBS = "SELECT count(*) FROM bib_records b WHERE b.modified_at >= $1 AND b.modified_at < $2"
_COUNT_SUPPLIER = _COUNT_BIBS + _delivered_by("$3")
_COUNT_LIBRARY_BIBS = (
    "SELECT count(*) FROM holdings h WHERE h.sigel = $3 AND h.set_datestamp >= $1 AND h.set_datestamp < $2"
)
_COUNT_HOLDINGS = "SELECT count(*) FROM holdings h WHERE h.modified_at >= $1 AND h.modified_at < $2"
_COUNT_LIBRARY_HOLDINGS = _COUNT_HOLDINGS + " AND h.sigel = $3"


def count_items(scope: Scope) -> str:
    """Parameters: $1 lower bound, $2 upper bound, [$3 code]."""
    if scope.kind == "all":
        return f"SELECT ({_COUNT_BIBS}) + ({_COUNT_HOLDINGS})"
    if scope.kind == BIB:
        if scope.sigel is not None:
            return _COUNT_LIBRARY_BIBS
        return _COUNT_SUPPLIER if scope.supplier is not None else _COUNT_BIBS
    return _COUNT_LIBRARY_HOLDINGS if scope.sigel is not None else _COUNT_HOLDINGS


EARLIEST = """
SELECT least((SELECT min(modified_at) FROM bib_records), (SELECT min(modified_at) FROM holdings))"""

# The harvest horizon (docs/oai-pmh.md, "Datestamps and the horizon"): an instant before which
# every datestamp any transaction will ever commit is already committed. Writers take datestamps
# from oai_datestamp() (migration 0015), which registers its transaction with a shared advisory
# lock keyed by a lower bound of the datestamp (whole seconds) before it reads the clock; so the
# horizon, oai_horizon() (migration 0019), is the least of this statement's start and every
# registered key. A writer registered after the lock table was read takes a datestamp later than
# this statement's start. The caller reads its data in later statements (later snapshots), which
# see every writer that had let go of its lock: it has committed (or rolled back) by then.
HORIZON = "SELECT oai_horizon()"

# On a read replica: the horizon the primary wrote (gateway/store/replicas.py) as far as this
# replica has replayed it. Every writer dated before it committed before the mark did, so it is
# replayed too, and visible to the request's later statements (docs/operations.md).
REPLAYED_HORIZON = "SELECT horizon FROM oai_horizon_mark"

# ListSets pages: keyset on the primary key / unique index ($1 the last code sent, $2 the limit).
LIBRARIES = "SELECT sigel, name FROM libraries ORDER BY sigel LIMIT $1"
LIBRARIES_AFTER = "SELECT sigel, name FROM libraries WHERE sigel > $1 ORDER BY sigel LIMIT $2"
LIBRARIES_FROM = "SELECT sigel, name FROM libraries WHERE sigel >= $1 ORDER BY sigel LIMIT $2"
SUPPLIERS = "SELECT code, name FROM suppliers ORDER BY code LIMIT $1"
SUPPLIERS_AFTER = "SELECT code, name FROM suppliers WHERE code > $1 ORDER BY code LIMIT $2"
SUPPLIERS_FROM = "SELECT code, name FROM suppliers WHERE code >= $1 ORDER BY code LIMIT $2"
COUNT_SETS = "SELECT (SELECT count(*) FROM libraries), (SELECT count(*) FROM suppliers)"
