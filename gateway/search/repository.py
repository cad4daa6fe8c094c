"""The SRU search backend on PostgreSQL: hits, counts, pages of records, scan terms.

Searches run on a pool of their own (:func:`create_search_pool`): read-only sessions whose
``statement_timeout`` (Settings.sru_timeout_ms), ``plan_cache_mode`` and ``jit`` are set when
the connection is opened, so the server bounds every statement at no cost per request, and a
released connection needs no reset round trip (nothing in the session ever changes). A
statement cancelled by the server (SQLSTATE 57014) or outliving the client-side backstop
becomes diagnostic 1: never a hung request. On a shared pool (no server-side timeout), asyncpg's
statement timeout cancels the statement in the server instead.

Statements are prepared once per connection (asyncpg's cache); every value is hidden from the
planner (see translate.Params), so the one generic plan per statement shape is as good as a
custom one and ``plan_cache_mode = force_generic_plan`` skips the five trial plannings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from stdnum import isbn as std_isbn

from gateway.search.translate import SORT_COLUMNS, TERM_KINDS, Params, condition, order_by
from gateway.store import db
from gateway.store.queries import load
from gateway.store.replicas import Acquires
from protocols.marc.identifiers import normalize_isbn
from protocols.sru import diagnostics as d
from protocols.sru.indexes import Index
from protocols.sru.query import Expr, SortKey
from protocols.sru.records import StoredRecord
from protocols.sru.service import ScanResult, ScanTerm, SearchResult

Q = load("search_repository")

# Creators and subjects: search_terms.term is the kind letter and the folded value.
_TERMS_FROM = """
SELECT substr(t.term, 2) AS value, min(t.display) AS display, count(*) AS n
  FROM search_terms t
 WHERE t.term {op} $1::text || (SELECT search_fold($2::text))
   AND t.term >= $1::text AND t.term < $1::text || chr(1114111)
 GROUP BY t.term ORDER BY t.term {direction} LIMIT $3
"""

# Titles: the title key of bib_search; the display form is read from the records.
_TITLES_FROM = """
SELECT k.value, (SELECT min(b.summary ->> 'title') FROM bib_search s JOIN bib_records b ON b.id = s.bib_id
                  WHERE s.title_key = k.value) AS display, k.n
  FROM (SELECT s.title_key AS value, count(*) AS n
          FROM bib_search s
         WHERE s.title_key {op} (SELECT search_fold($2::text)) AND $1::text IS NOT NULL
         GROUP BY s.title_key ORDER BY s.title_key {direction} LIMIT $3) AS k
 ORDER BY k.value {direction}
"""

_ISBNS_FROM = """
SELECT i.value AS value, NULL::text AS display, count(*) AS n
  FROM bib_identifiers i JOIN bib_search s ON s.bib_id = i.bib_id
 WHERE i.kind = 'isbn' AND i.value {op} $2::text AND $1::text IS NOT NULL
 GROUP BY i.value ORDER BY i.value {direction} LIMIT $3
"""


def search_statement(
    expr: Expr, sort: Sequence[SortKey], offset: int, limit: int, *, summary: bool = True
) -> tuple[str, list[object]]:
    """The statement giving (total, id, marcxml, summary) rows: one row per record of the page,
    or a single row with NULL id when the page is empty (a count-only search, ``limit`` 0, is a
    plain count); and its parameters. Without
    ``summary`` the summary column is NULL (not sent, not decoded)."""
    params = Params()
    where = condition(expr, params)
    if limit == 0:  # count only: no order, no page, no record
        return f"SELECT count(*) AS total, NULL::bigint AS id, NULL::text AS marcxml, NULL::jsonb AS summary" \
               f" FROM bib_search s WHERE {where}", params.values  # noqa: S608
    keys = [f"{SORT_COLUMNS[key.key]} AS k{n}" for n, key in enumerate(sort)]
    select = ", ".join(["s.bib_id", *keys])
    page_order = order_by(sort, [f"k{n}" for n in range(len(sort))])
    outer_order = order_by(sort, [f"page.k{n}" for n in range(len(sort))])
    limit_param = params.add_plain(limit, "::bigint")
    offset_param = params.add_plain(offset, "::bigint")
    # Only fixed column names and $n placeholders are formatted in; every value is a parameter.
    sql = f"""
WITH hits AS MATERIALIZED (
    SELECT {select} FROM bib_search s WHERE {where}
), page AS (
    SELECT * FROM hits ORDER BY {page_order + ', ' if page_order else ''}bib_id
     LIMIT {limit_param} OFFSET {offset_param}
)
SELECT (SELECT count(*) FROM hits) AS total, b.id, b.marcxml, {"b.summary" if summary else "NULL::jsonb AS summary"}
  FROM (SELECT 1) AS one
  LEFT JOIN (page JOIN bib_records b ON b.id = page.bib_id) ON true
 ORDER BY {outer_order + ', ' if outer_order else ''}page.bib_id
"""  # noqa: S608
    return sql, params.values


def search_session_settings(timeout_ms: int) -> dict[str, str]:
    """Session settings of a search connection, sent when it is opened."""
    return {
        "statement_timeout": str(max(1, int(timeout_ms))),
        "default_transaction_read_only": "on",
        "plan_cache_mode": "force_generic_plan",
        "jit": "off",  # compiling a count over many hits costs more than it saves
    }


async def _keep(conn: asyncpg.Connection) -> None:
    """No reset on release: search sessions never change their state."""


async def create_search_pool(url: str, timeout_ms: int, size: int = 10, *, lazy: bool = False,
                             **connect: Any) -> asyncpg.Pool:
    """The read-only pool searches run on (see the module docstring). `lazy`: no connection is
    opened until a search needs one (a read replica's pool: the replica may be down)."""
    return await db.create_pool(url, min_size=0 if lazy else size, max_size=size,
                                server_settings=search_session_settings(timeout_ms), reset=_keep, **connect)


class PostgresBackend:
    """:class:`protocols.sru.service.SearchBackend` on the gateway's database.

    ``server_timeout``: the pool's sessions carry the statement timeout themselves
    (:func:`create_search_pool`); the client-side timeout is then only a backstop."""

    def __init__(self, pool: Acquires, timeout_ms: int, *, server_timeout: bool = False) -> None:
        self.pool = pool
        self.timeout_ms = max(1, int(timeout_ms))
        self._client_timeout = (self.timeout_ms + (1000 if server_timeout else 0)) / 1000

    async def _fetch(self, conn: asyncpg.Connection, sql: str, *args: object) -> list[asyncpg.Record]:
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args, timeout=self._client_timeout)
        except (asyncpg.QueryCanceledError, TimeoutError) as e:
            raise d.GeneralSystemError(
                f"the query took longer than {self.timeout_ms} ms and was cancelled"
            ) from e
        return rows

    async def search(
        self, expr: Expr, sort: Sequence[SortKey], offset: int, limit: int, *, holdings: bool,
        summary: bool = True,
    ) -> SearchResult:
        sql, params = search_statement(expr, sort, offset, limit, summary=summary)
        async with self.pool.acquire() as conn:
            rows = await self._fetch(conn, sql, *params)
            records = [
                StoredRecord(r["id"], r["marcxml"], r["summary"] or {}) for r in rows if r["id"] is not None
            ]
            if holdings and records:
                by_id: dict[int, list[tuple[str, str]]] = {}
                for row in await self._fetch(conn, Q["holdings"], [r.id for r in records]):
                    by_id.setdefault(row["bib_id"], []).append((row["sigel"], row["marcxml"]))
                for record in records:
                    record.holdings = by_id.get(record.id, [])
        total = rows[0]["total"] if rows else 0
        return SearchResult(int(total), records)

    async def scan(self, index: Index, term: str, before: int, after: int, *, inclusive: bool) -> ScanResult:
        if index.field == "isbn":
            template, start, display = _ISBNS_FROM, _isbn_start(term), _isbn_display
        elif index.field == "title":
            template, start, display = _TITLES_FROM, term, None
        elif index.field in TERM_KINDS:
            template, start, display = _TERMS_FROM, term, None
        else:  # the resolver lets only scannable indexes through
            raise d.UnsupportedIndex(f"{index.qualified} cannot be scanned")
        kind = TERM_KINDS.get(index.field, index.field)
        up_op = ">=" if inclusive else ">"
        async with self.pool.acquire() as conn:
            upward = template.format(op=up_op, direction="ASC")
            above = await self._fetch(conn, upward, kind, start, after + 1)
            # One more than wanted each way: whether the index goes on beyond the list. A start
            # term left out of the list (responsePosition 0) is one of the terms before it.
            downward = template.format(op="<" if inclusive else "<=", direction="DESC")
            below = await self._fetch(conn, downward, kind, start, before + 1)
        after_terms = [_term(r, display) for r in above[:after]]
        before_terms = [_term(r, display) for r in reversed(below[:before])]
        return ScanResult(
            before_terms, after_terms, more_before=len(below) > before, more_after=len(above) > after
        )


def _term(row: Any, display: Any) -> ScanTerm:
    value = row["value"]
    shown = display(value) if display is not None else row["display"]
    return ScanTerm(value, int(row["n"]), shown)


def _isbn_start(term: str) -> str:
    isbn13, _ = normalize_isbn(term)
    return isbn13 or "".join(c for c in term if c.isdigit())


def _isbn_display(value: str) -> str:
    try:
        return str(std_isbn.format(value))
    except Exception:  # stored values are valid; this is only a display nicety
        return value
