"""SQL of the OAI repository, composed from fixed fragments (values are always parameters).

Every list query is a keyset scan: `(datestamp, id) > ($1, $2) AND datestamp < $3 ORDER BY
datestamp, id LIMIT $4` on an index that has exactly that order, so page N costs what page 1
costs. Columns of every item query: kind (0 bib, 1 hold), id, ds, deleted, sigels, suppliers,
marcxml, summary, hsigels, hxml.
"""

# Queries are joined from the constant fragments below only; no value ever enters the text.
# ruff: noqa: S608

from __future__ import annotations

import functools

from protocols.oai.repository import BIB, HOLD, Payload, Scope

# Libraries holding a bib (live holdings) and suppliers that delivered it: the header's setSpecs.
_BIB_SETS = """
    ARRAY(SELECT x.sigel FROM holdings x WHERE x.bib_id = b.id AND NOT x.deleted ORDER BY x.sigel) AS sigels,
    ARRAY(SELECT s.code FROM bib_suppliers bs JOIN suppliers s ON s.id = bs.supplier_id
          WHERE bs.bib_id = b.id ORDER BY s.code) AS suppliers"""

_ALL_HOLDINGS = """
    ARRAY(SELECT x.sigel FROM holdings x WHERE x.bib_id = b.id AND NOT x.deleted ORDER BY x.sigel),
    ARRAY(SELECT x.marcxml FROM holdings x WHERE x.bib_id = b.id AND NOT x.deleted ORDER BY x.sigel)"""


def _bib_payload(payload: Payload, deleted: str, one_holding: bool) -> str:
    marcxml = f"CASE WHEN NOT ({deleted}) THEN b.marcxml END"
    if payload is Payload.MARCXML:
        return f"{marcxml}, NULL::jsonb, NULL::text[], NULL::text[]"
    if payload is Payload.SUMMARY:
        return f"NULL::text, CASE WHEN NOT ({deleted}) THEN b.summary END, NULL::text[], NULL::text[]"
    if payload is Payload.WITH_HOLDINGS:
        holdings = "ARRAY[h.sigel], ARRAY[h.marcxml]" if one_holding else _ALL_HOLDINGS
        return f"{marcxml}, NULL::jsonb, {holdings}"
    return "NULL::text, NULL::jsonb, NULL::text[], NULL::text[]"


def _hold_payload(payload: Payload) -> str:
    marcxml = "CASE WHEN NOT h.deleted THEN h.marcxml END" if payload is not Payload.NONE else "NULL::text"
    return f"{marcxml}, NULL::jsonb, NULL::text[], NULL::text[]"


def _bibs(payload: Payload, supplier: bool) -> str:
    """Bibs by (modified_at, id); optionally only those a supplier ($5, its code) delivered."""
    only = (
        """ AND EXISTS (SELECT 1 FROM bib_suppliers bs JOIN suppliers s ON s.id = bs.supplier_id
                        WHERE bs.bib_id = b.id AND s.code = $5)"""
        if supplier
        else ""
    )
    return f"""
SELECT 0 AS kind, b.id, b.modified_at AS ds, b.deleted, {_BIB_SETS},
       {_bib_payload(payload, "b.deleted", False)}
FROM bib_records b
WHERE (b.modified_at, b.id) > ($1, $2) AND b.modified_at < $3{only}
ORDER BY b.modified_at, b.id
LIMIT $4"""


def _library_bibs(payload: Payload) -> str:
    """Bibs of library $5 by (set_datestamp, bib_id); its deleted holding makes the bib deleted."""
    deleted = "h.deleted OR b.deleted"
    return f"""
SELECT 0 AS kind, b.id, h.set_datestamp AS ds, ({deleted}) AS deleted, {_BIB_SETS},
       {_bib_payload(payload, deleted, True)}
FROM holdings h JOIN bib_records b ON b.id = h.bib_id
WHERE h.sigel = $5 AND (h.set_datestamp, h.bib_id) > ($1, $2) AND h.set_datestamp < $3
ORDER BY h.set_datestamp, h.bib_id
LIMIT $4"""


def _holdings(payload: Payload, library: bool, after_id: str = "$2") -> str:
    only = "h.sigel = $5 AND " if library else ""
    return f"""
SELECT 1 AS kind, h.id, h.modified_at AS ds, h.deleted, ARRAY[h.sigel] AS sigels, '{{}}'::text[],
       {_hold_payload(payload)}
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


_COUNT_BIBS = "SELECT count(*) FROM bib_records b WHERE b.modified_at >= $1 AND b.modified_at < $2"
_COUNT_SUPPLIER = (
    _COUNT_BIBS
    + """ AND EXISTS (SELECT 1 FROM bib_suppliers bs JOIN suppliers s ON s.id = bs.supplier_id
                      WHERE bs.bib_id = b.id AND s.code = $3)"""
)
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


@functools.cache
def get_item(kind: str, payload: Payload) -> str:
    if kind == BIB:
        return f"""
SELECT 0 AS kind, b.id, b.modified_at AS ds, b.deleted, {_BIB_SETS},
       {_bib_payload(payload, "b.deleted", False)}
FROM bib_records b WHERE b.id = $1"""
    return f"""
SELECT 1 AS kind, h.id, h.modified_at AS ds, h.deleted, ARRAY[h.sigel] AS sigels, '{{}}'::text[],
       {_hold_payload(payload)}
FROM holdings h WHERE h.id = $1"""


EARLIEST = """
SELECT least((SELECT min(modified_at) FROM bib_records), (SELECT min(modified_at) FROM holdings))"""

# The harvest horizon: no transaction still running can give an item a datestamp before it.
# Items get now() - their writing transaction's start - as datestamp, and become visible only at
# commit, so the horizon is the start of the oldest transaction in progress in this database
# (any client backend, written yet or not: one that has only read so far may still write with
# its earlier now()), and at most the present minus $1 seconds, which covers the moment between
# a transaction taking its start time and publishing it in pg_stat_activity.
HORIZON = """
SELECT least(clock_timestamp() - make_interval(secs => $1), min(a.xact_start))
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.backend_type = 'client backend'
  AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL"""

LIBRARIES = "SELECT sigel, name FROM libraries ORDER BY sigel"
SUPPLIERS = "SELECT code, name FROM suppliers ORDER BY code"
