"""The search index (migration 0003) itself: what its triggers write and leave alone, folding."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from protocols.marc.record import DataField
from tests.sru.conftest import Endpoint, codes, record_ids
from tests.sru.seed import Book, add_books

BOOKS = [
    Book(2001, "Havets röst", creators=["Ström, Åsa", "Ström, Åsa", "Berg, Nils"],
         subjects=["Hav", "Hav", "Fiske"], year="2017", publisher="Norstedts",
         extra=[DataField("300", " ", " ", [("a", "120 sidor")])]),
    Book(2002, "Norstedts historia", creators=["Lind, Eva"], subjects=["Förlag"], year="2001",
         publisher="Bonnier"),
]


@pytest.fixture
async def books(pool: asyncpg.Pool) -> None:
    await add_books(pool, BOOKS)


async def search_rows(conn: asyncpg.Connection, bib_id: int) -> tuple[object, list[tuple[str, str]]]:
    """The bib_search row version (xmin) and the record's (term, xmin) search_terms rows."""
    row = await conn.fetchval("SELECT xmin::text FROM bib_search WHERE bib_id = $1", bib_id)
    terms = await conn.fetch(
        "SELECT term, xmin::text AS x FROM search_terms WHERE bib_id = $1 ORDER BY term", bib_id)
    return row, [(t["term"], t["x"]) for t in terms]


@pytest.mark.usefixtures("books")
async def test_one_term_row_per_distinct_value(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        _, terms = await search_rows(conn, 2001)
    assert [t for t, _ in terms] == ["cberg nils", "cstrom asa", "sfiske", "shav"]


@pytest.mark.usefixtures("books")
async def test_update_keeping_the_summary_leaves_the_index_alone(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        before = await search_rows(conn, 2001)
        # What a redelivery does: new marcxml (same summary), a new modification time.
        await conn.execute(
            "UPDATE bib_records SET marcxml = marcxml || ' ', modified_at = now() + interval '1 s',"
            " summary = summary WHERE id = $1", 2001)
        assert await search_rows(conn, 2001) == before
        await conn.execute(
            "UPDATE bib_records SET summary = jsonb_set(summary, '{subjects}', $2::jsonb) WHERE id = $1",
            2001, ["Fiske", "Sjöfart"])  # the pool encodes jsonb
        row, terms = await search_rows(conn, 2001)
        assert row != before[0]
        assert [t for t, _ in terms] == ["cberg nils", "cstrom asa", "sfiske", "ssjofart"]
        assert await conn.fetchval("SELECT count(*) FROM search_terms WHERE term = 'shav'") == 0


@pytest.mark.usefixtures("books")
async def test_deleted_and_removed_records_leave_the_index(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE bib_records SET deleted = true WHERE id = 2001")
        assert await search_rows(conn, 2001) == (None, [])
        await conn.execute("UPDATE bib_records SET deleted = false WHERE id = 2001")
        assert (await search_rows(conn, 2001))[0] is not None
        await conn.execute("DELETE FROM bib_records WHERE id = 2002")
        assert await search_rows(conn, 2002) == (None, [])
        assert await conn.fetchval("SELECT count(*) FROM bib_search") == 1
        await conn.execute("TRUNCATE bib_records CASCADE")
        assert await conn.fetchval("SELECT count(*) FROM bib_search") == 0
        assert await conn.fetchval("SELECT count(*) FROM search_terms") == 0


@pytest.mark.usefixtures("books")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("dc.publisher = norstedts", [2001]),   # not 2002, whose title says Norstedts
        ("dc.title = norstedts", [2002]),
        ("norstedts", [2001, 2002]),
        ("dc.publisher = 2017", []),            # the year shares the D weight, not the field
        ("dc.publisher = norst*", [2001]),
        ("dc.subject = ström", []),             # a creator's word is not a subject's
        ("dc.creator = ström", [2001]),
        ("dc.creator == \"strom asa\"", [2001]),
        ("dc.subject == hav", [2001]),
        ("dc.subject == \"fis*\"", [2001]),
        ("2017", [2001]),
        ("text", []),                           # the resource type is not the record's content
        ("cql.keywords = text", []),
        ("swe", []),                            # nor the language code (dc.language has it)
        ("dc.language = swe", [2001, 2002]),
        ("sidor", [2001]),                      # the extent is
    ],
)
async def test_field_weights(sru: Endpoint, query: str, expected: list[int]) -> None:
    root = await sru.get(version="1.2", operation="searchRetrieve", query=query, maximumRecords=50)
    assert codes(root) == []
    assert record_ids(root) == expected


_TEXT = st.text(
    st.one_of(
        st.sampled_from("aåäöAÅÄÖéüßæø -,.:;'\"()/&\t\n"),
        st.characters(min_codepoint=0x300, max_codepoint=0x36F),   # combining marks
        st.characters(min_codepoint=0x1100, max_codepoint=0x11FF),  # Hangul jamo (NFC composes)
        st.characters(exclude_categories=["Cs"], min_codepoint=1),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(st.none(), _TEXT), max_size=6))
@example(values=["\u1100\u0300\u1161", "a\u1100\u0300\u1161 b"])  # composable once the accent is gone (0007)
async def test_fold_all_is_fold_of_each(pool: asyncpg.Pool, values: list[str | None]) -> None:
    """search_fold_all (one pass per record, used by the triggers) agrees with search_fold (used
    on queries) value by value; also for values holding its U+001F separator."""
    async with pool.acquire() as conn:
        together, each = await conn.fetchrow(
            "SELECT search_fold_all($1::text[]),"
            " ARRAY(SELECT coalesce(search_fold(v), '') FROM unnest($1::text[]) AS v)", values)
    assert together == each
    assert all(unicodedata.is_normalized("NFC", v) for v in together)


async def test_a_record_whose_text_composes_once_its_marks_are_dropped_is_found_precomposed(
    sru: Endpoint, pool: asyncpg.Pool
) -> None:
    """Jamo with an accent between them fold to the syllable (0007), so the word typed as one
    precomposed character finds the record, by keyword and by title."""
    await add_books(pool, [Book(2101, "Tale \u1100\u0300\u1161 of old")])
    for query in ("\uac00", "dc.title = \uac00", "dc.title = \"tale \uac00 of old\""):
        root = await sru.get(version="1.2", operation="searchRetrieve", query=query)
        assert codes(root) == []
        assert record_ids(root) == [2101], query


async def test_migration_0007_refolds_records_indexed_the_old_way(pool: asyncpg.Pool) -> None:
    """Rows folded before 0007 (not NFC) are rewritten by its last statement; Latin-only rows,
    whose folding did not change, are left alone."""
    await add_books(pool, [Book(2201, "Tale \u1100\u0300\u1161"), Book(2202, "Malmö hamn")])
    sql = (Path(__file__).parents[2] / "schemas/migrations/0007_search_fold_nfc.sql").read_text()
    refold = sql[sql.rindex("SELECT search_refresh"):]
    async with pool.acquire() as conn:
        await conn.execute("UPDATE bib_search SET title_key = 'tale \u1100\u1161' WHERE bib_id = 2201")
        untouched = await conn.fetchval("SELECT xmin::text FROM bib_search WHERE bib_id = 2202")
        await conn.execute(refold)
        assert await conn.fetchval("SELECT title_key FROM bib_search WHERE bib_id = 2201") == "tale \uac00"
        assert await conn.fetchval("SELECT xmin::text FROM bib_search WHERE bib_id = 2202") == untouched


async def test_migration_0011_reindexes_every_record(pool: asyncpg.Pool) -> None:
    """Rows indexed the 0003 way (resource type and language among the keywords) are rewritten
    by its last statement."""
    await add_books(pool, [Book(2301, "Tale of old"), Book(2302, "Malmö hamn")])
    sql = (Path(__file__).parents[2] / "schemas/migrations/0011_search_content_phrases.sql").read_text()
    reindex = sql[sql.rindex("SELECT search_refresh"):]
    async with pool.acquire() as conn:
        await conn.execute("UPDATE bib_search SET words = words || 'text:9 swe:10'::tsvector")
        found = "SELECT count(*) FROM bib_search WHERE words @@ 'text | swe'::tsquery"
        assert await conn.fetchval(found) == 2
        await conn.execute(reindex)
        assert await conn.fetchval(found) == 0
        assert await conn.fetchval("SELECT count(*) FROM bib_search WHERE words @@ 'hamn'::tsquery") == 1
