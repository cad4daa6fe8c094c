"""searchRetrieve over HTTP against a seeded database: indexes, folding, paging, sorting, schemas."""

from __future__ import annotations

import asyncpg
import pytest

from tests.sru.conftest import NS, Endpoint, codes, number_of_records, record_ids
from tests.sru.seed import Book, add_books, set_modified

BOOKS = [
    Book(1001, "Malmö : en stad i förändring", creators=["Ström, Åsa", "Berg, Nils"],
         subjects=["Städer", "Stadsplanering"], isbns=["978-91-7343-501-7"], year="2019",
         publisher="Gleerups", holdings=["Mlm", "S"], suppliers=["BTJ"]),
    Book(1002, "Röda rummet", creators=["Strindberg, August"], subjects=["Stockholm"],
         isbns=["9100123455"], year="1879", holdings=["S"], deleted_holdings=["Mlm"], suppliers=["ADLIBRIS"],
         encoding_level="5"),
    Book(1003, "Malmoe harbour history", creators=["Andersson, Karl"], subjects=["Hamnar"],
         issns=["0317-8471"], year="2001", language="eng", publisher="Harbour Press", nfd=True),
    Book(1004, "Göteborg och Malmö", creators=["Öberg, Åke"], subjects=["Städer"], eans=["7312345678909"],
         year="2005", holdings=["Gbg"], nfd=True, sysno="(LIBRIS)12345", suppliers=["BTJ"]),
    Book(1005, "Hemsöborna", creators=["Strindberg, August"], subjects=["Skärgården"], year="1887",
         encoding_level="8"),
    Book(1006, "Deleted book about Malmö", deleted=True),
]


@pytest.fixture
async def books(pool: asyncpg.Pool) -> None:
    await add_books(pool, BOOKS)


async def hits(sru: Endpoint, query: str, **params: str | int) -> list[int]:
    root = await sru.get(version="1.2", operation="searchRetrieve", query=query, maximumRecords=50, **params)
    assert codes(root) == [], f"{query!r}: diagnostics {codes(root)}"
    ids = record_ids(root)
    assert number_of_records(root) == len(ids)
    return ids


@pytest.mark.usefixtures("books")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("malmö", [1001, 1004]),
        ("Malmo", [1001, 1004]),                          # diacritic-insensitive
        ("MALMÖ", [1001, 1004]),                          # case-insensitive
        ("malmo\u0308", [1001, 1004]),                    # decomposed query finds both forms
        ("cql.keywords = \"harbour history\"", [1003]),
        ("cql.serverChoice all \"strindberg rummet\"", [1002]),
        ("cql.serverChoice any \"hemsöborna rummet\"", [1002, 1005]),
        ("dc.title = malmö", [1001, 1004]),
        ("dc.title = goteborg", [1004]),                  # NFD-stored record, plain query
        ("dc.title adj \"röda rummet\"", [1002]),
        ("dc.title adj \"rummet röda\"", []),
        ("dc.title = \"röda rummet\"", [1002]),            # = is a phrase (adj), CQL 1.2
        ("dc.title = \"rummet röda\"", []),
        ("dc.title all \"rummet röda\"", [1002]),          # all: every word, any order
        ("dc.title any \"rummet hemsöborna\"", [1002, 1005]),
        ("dc.title = \"en stad\"", [1001]),
        ("dc.title = \"malmö förändring\"", []),
        ("dc.title = \"stad i förä*\"", [1001]),           # truncation in a phrase
        ("dc.creator = \"nils berg\"", []),
        ("dc.creator = \"berg nils\"", [1001]),
        ("\"stad malmö\"", []),                          # a bare term is serverChoice =
        ("stad and malmö", [1001]),
        ("cql.serverChoice all \"stad malmö\"", [1001]),
        # A phrase never spans two values: two creators, two subjects, title and creator.
        ("dc.creator adj \"åsa berg\"", []),
        ("dc.subject adj \"städer stadsplanering\"", []),
        ("cql.serverChoice adj \"förändring ström\"", []),
        ("cql.serverChoice adj \"gleerups 2019\"", []),
        ("cql.serverChoice adj \"strindberg august\"", [1002, 1005]),
        ("dc.title = malm*", [1001, 1003, 1004]),         # right truncation
        ("dc.title = \"^malmö\"", [1001]),                # anchored at the start
        ("dc.title = \"malmö^\"", [1004]),                # anchored at the end
        ("dc.title == \"Röda rummet\"", [1002]),          # whole title
        ("dc.title == \"roda*\"", [1002]),
        ("dc.creator = strindberg", [1002, 1005]),
        ("dc.creator = \"oberg ake\"", [1004]),
        ("dc.creator == \"Strindberg, August\"", [1002, 1005]),
        ("dc.subject = städer", [1001, 1004]),
        ("dc.subject == stader", [1001, 1004]),
        ("dc.publisher = gleerups", [1001]),
        ("dc.date = 2019", [1001]),
        ("dc.date < 1900", [1002, 1005]),
        ("dc.date >= 2005", [1001, 1004]),
        ("dc.date within \"1880 2002\"", [1003, 1005]),
        ("dc.date <> 2019", [1002, 1003, 1004, 1005]),
        ("dc.language = ENG", [1003]),
        ("dc.language any \"eng fre\"", [1003]),
        ("bath.isbn = 9789173435017", [1001]),
        ("bath.isbn = 978-91-7343-501-7", [1001]),
        ("bath.isbn = 9173435015", [1001]),                # ISBN-10 of the same book
        ("bath.isbn = 91-7343-501-5", [1001]),
        ("bath.isbn = 91-0-012345-5", [1002]),
        ("bath.isbn = 9789100123451", [1002]),             # the ISBN-13 form of 1002's ISBN-10
        ("bath.isbn any \"9173435015 9100123455\"", [1001, 1002]),
        ("bath.issn = 03178471", [1003]),
        ("bath.issn = 0317-8471", [1003]),
        ("bath.standardIdentifier = 7312345678909", [1004]),
        ("bath.standardIdentifier = 07312345678909", [1004]),  # the same GTIN as 14 digits
        ("dc.identifier = 07312345678909", [1004]),
        ("dc.identifier = \"(LIBRIS)12345\"", [1004]),
        ("dc.identifier = 0317-8471", [1003]),
        ("dc.identifier = 1005", [1005]),
        ("rec.id = 1003", [1003]),
        ("rec.id any \"1001 1005 1006\"", [1001, 1005]),     # 1006 is deleted
        ("bath.possessingInstitution = S", [1001, 1002]),
        ("bath.possessingInstitution = Mlm", [1001]),        # 1002's Mlm holding is deleted
        ("forvarv.supplier = btj", [1001, 1004]),
        ("forvarv.encodingLevel = 5", [1002]),
        ("forvarv.encodingLevel = blank", [1001, 1003, 1004]),
        ("cql.allRecords = 1", [1001, 1002, 1003, 1004, 1005]),
        ("malmö and dc.date > 2010", [1001]),
        ("malmö or hemsöborna", [1001, 1004, 1005]),
        ("malmö not göteborg", [1001]),
        ("(dc.creator = strindberg or dc.subject = hamnar) and dc.date < 1885", [1002]),
        ("> d = \"info:srw/cql-context-set/1/dc-v1.1\" d.title = hemsöborna", [1005]),
        ("title = hemsöborna", [1005]),                    # unprefixed: cql, dc, bath, rec, forvarv
        ("isbn = 91-7343-501-5", [1001]),
        ("ISSN = 0317-8471", [1003]),
        ("standardIdentifier = 7312345678909", [1004]),
        ("possessingInstitution = S", [1001, 1002]),
        ("id = 1003", [1003]),
        ("supplier = btj", [1001, 1004]),
        ("encodingLevel = 5", [1002]),
        ("isbn = 91-7343-501-5 sortBy lastModified", [1001]),
        ("deleted", []),                                   # deleted records are not found
    ],
)
async def test_query(sru: Endpoint, query: str, expected: list[int]) -> None:
    assert await hits(sru, query) == expected


@pytest.mark.usefixtures("books")
async def test_last_modified(sru: Endpoint, pool: asyncpg.Pool) -> None:
    await set_modified(pool, 1003, "2020-05-17T10:00:00Z")
    await set_modified(pool, 1005, "2021-01-01T00:00:00Z")
    assert await hits(sru, "rec.lastModified = 2020-05-17") == [1003]
    assert await hits(sru, "rec.lastModified < 2021") == [1003]
    assert await hits(sru, "rec.lastModified <= 2021-01-01") == [1003, 1005]
    assert await hits(sru, "rec.lastModified within \"2020 2021-01-01T00:00:00Z\"") == [1003, 1005]
    later = await hits(sru, "rec.lastModified > \"2020-05-17T10:00:00+02:00\"")
    assert later == [1001, 1002, 1003, 1004, 1005]


@pytest.mark.usefixtures("books")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cql.allRecords = 1 sortBy dc.title", [1004, 1005, 1001, 1003, 1002]),
        ("cql.allRecords = 1 sortBy dc.title/sort.descending", [1002, 1003, 1001, 1005, 1004]),
        ("cql.allRecords = 1 sortBy dc.date/sort.ascending", [1002, 1005, 1003, 1004, 1001]),
        ("cql.allRecords = 1 sortBy dc.creator dc.title", [1003, 1004, 1005, 1002, 1001]),
        ("dc.creator = strindberg sortBy dc.date/sort.descending", [1005, 1002]),
    ],
)
async def test_sort_by(sru: Endpoint, query: str, expected: list[int]) -> None:
    assert await hits(sru, query) == expected


@pytest.mark.usefixtures("books")
async def test_sort_by_last_modified_and_sort_keys(sru: Endpoint, pool: asyncpg.Pool) -> None:
    await set_modified(pool, 1001, "2030-01-01T00:00:00Z")
    root = await sru.get(version="1.2", operation="searchRetrieve",
                         query="cql.allRecords = 1 sortBy rec.lastModified/sort.descending")
    assert record_ids(root)[0] == 1001
    root = await sru.get(version="1.1", operation="searchRetrieve", query="cql.allRecords = 1",
                         sortKeys="date,,0")
    assert record_ids(root) == [1001, 1004, 1003, 1005, 1002]
    assert root.findtext("srw:echoedSearchRetrieveRequest/srw:sortKeys", namespaces=NS) == "date,,0"
    root = await sru.get(query="cql.allRecords = 1", sortKeys="dc.title,,1")
    ids = [int(e.text or "") for e in root.iterfind(".//marc:controlfield[@tag='001']", NS)]
    assert ids == [1004, 1005, 1001, 1003, 1002]


@pytest.mark.usefixtures("books")
async def test_paging(sru: Endpoint) -> None:
    seen: list[int] = []
    start: int | None = 1
    while start is not None:
        root = await sru.get(version="1.2", operation="searchRetrieve", query="cql.allRecords = 1",
                             startRecord=start, maximumRecords=2)
        assert number_of_records(root) == 5
        positions = [int(e.text or "") for e in root.iterfind(".//srw:recordPosition", NS)]
        assert positions == list(range(start, start + len(positions)))
        seen += record_ids(root)
        following = root.findtext("srw:nextRecordPosition", namespaces=NS)
        start = int(following) if following else None
    assert seen == [1001, 1002, 1003, 1004, 1005]


@pytest.mark.usefixtures("books")
async def test_counts_and_positions(sru: Endpoint) -> None:
    root = await sru.get(version="1.2", operation="searchRetrieve", query="malmö", maximumRecords=0)
    assert number_of_records(root) == 2
    assert root.find("srw:records", NS) is None
    # Count only (a plain count statement): with sorting, with any start, with every index kind.
    for query, total in (("malmö sortBy dc.title", 2), ("cql.allRecords = 1", 5), ("dc.date < 1900", 2),
                         ("bath.isbn any \"9173435015 9100123455\"", 2), ("dc.creator == \"Strindberg, August\"", 2),
                         ("bath.possessingInstitution = S not dc.title = röda", 1), ("nosuchword", 0)):
        root = await sru.get(version="1.2", operation="searchRetrieve", query=query, maximumRecords=0)
        assert (number_of_records(root), codes(root)) == (total, []), query
    root = await sru.get(version="1.2", operation="searchRetrieve", query="malmö", maximumRecords=0, startRecord=5)
    assert (number_of_records(root), codes(root)) == (2, [61])
    root = await sru.get(version="1.2", operation="searchRetrieve", query="malmö", maximumRecords=2)
    assert root.find("srw:nextRecordPosition", NS) is None  # nothing follows
    root = await sru.get(version="1.2", operation="searchRetrieve", query="malmö", startRecord=3)
    assert number_of_records(root) == 2
    assert codes(root) == [61]
    root = await sru.get(version="1.2", operation="searchRetrieve", query="nosuchword")
    assert number_of_records(root) == 0
    assert codes(root) == []


@pytest.mark.usefixtures("books")
async def test_maximum_records_is_capped(pool: asyncpg.Pool) -> None:
    endpoint = Endpoint(pool, max_records=3)
    await endpoint.start()
    try:
        root = await endpoint.get(query="cql.allRecords = 1", maximumRecords=1000)
        assert len(record_ids(root)) == 3
        assert root.findtext("sru:nextRecordPosition", namespaces=NS) == "4"
        assert root.findtext("sru:echoedSearchRetrieveRequest/sru:maximumRecords", namespaces=NS) == "3"
    finally:
        await endpoint.close()


@pytest.mark.usefixtures("books")
async def test_default_is_ten_records(sru: Endpoint, pool: asyncpg.Pool) -> None:
    await add_books(pool, [Book(2000 + n, f"Extra title {n}") for n in range(12)])
    root = await sru.get(version="1.2", operation="searchRetrieve", query="dc.title = extra")
    assert number_of_records(root) == 12
    assert len(record_ids(root)) == 10
    assert root.findtext("srw:nextRecordPosition", namespaces=NS) == "11"


def test_unprefixed_names_are_unambiguous() -> None:
    """An index name without a prefix is looked up in every context set explain lists: no local
    name may be in two of them, or the order would decide silently."""
    from protocols.sru.indexes import INDEXES

    names = [index.name.lower() for index in INDEXES]
    assert len(names) == len(set(names))
