"""The error matrix: every OAI error condition, HTTP 200, and what <request> echoes."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import asyncpg
import pytest

from tests.oai import seed
from tests.oai.conftest import NS, Endpoint, error_code

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
LR = "verb=ListRecords&metadataPrefix=marc21"

CASES = [
    # (query, code, request attributes echoed)
    ("", "badVerb", False),
    ("verb=Foo", "badVerb", False),
    ("verb=Identify&verb=Identify", "badVerb", False),
    ("verb=Identify&verb=ListSets", "badVerb", False),
    ("metadataPrefix=marc21", "badVerb", False),
    ("verb=Identify&foo=bar", "badArgument", False),
    ("verb=Identify&metadataPrefix=marc21", "badArgument", False),
    ("verb=ListRecords", "badArgument", False),
    ("verb=ListIdentifiers&set=bib", "badArgument", False),
    (f"{LR}&metadataPrefix=marc21", "badArgument", False),
    (f"{LR}&set=bib&set=hold", "badArgument", False),
    (f"{LR}&resumptionToken=abc", "badArgument", False),
    ("verb=ListSets&resumptionToken=abc&set=bib", "badArgument", False),
    (f"{LR}&from=2024-01-01&until=2024-01-02T00:00:00Z", "badArgument", False),
    (f"{LR}&from=2024-02-01&until=2024-01-31", "badArgument", False),
    (f"{LR}&from=2024-01-01T00:00:01Z&until=2024-01-01T00:00:00Z", "badArgument", False),
    (f"{LR}&from=2024-13-01", "badArgument", False),
    (f"{LR}&from=2024-01-01T00:00:00", "badArgument", False),
    (f"{LR}&from=2024-01-01T00:00:00.5Z", "badArgument", False),
    (f"{LR}&until=2024-01-01T00:00:00%2B01:00", "badArgument", False),
    (f"{LR}&from=", "badArgument", False),
    (f"{LR}&set=not%20a%20set", "badArgument", False),
    (f"{LR}&set=bib%01", "badArgument", False),
    ("verb=ListRecords&metadataPrefix=marc%2021", "badArgument", False),
    ("verb=GetRecord&metadataPrefix=marc21", "badArgument", False),
    ("verb=GetRecord&identifier=oai:forvarv.example.org:bib/100001", "badArgument", False),
    # identifiers that are no URI (anyURI in the schema) could not be echoed in a valid <request>
    ("verb=GetRecord&metadataPrefix=marc21&identifier=oai:forvarv.example.org:bib/1]", "badArgument", False),
    ("verb=ListMetadataFormats&identifier=%25zz", "badArgument", False),
    ("verb=ListMetadataFormats&identifier=::", "badArgument", False),
    ("verb=ListRecords&metadataPrefix=nope", "cannotDisseminateFormat", True),
    ("verb=ListIdentifiers&metadataPrefix=nope&set=bib", "cannotDisseminateFormat", True),
    (
        "verb=GetRecord&metadataPrefix=nope&identifier=oai:forvarv.example.org:bib/100001",
        "cannotDisseminateFormat",
        True,
    ),
    (
        "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:forvarv.example.org:hold/500001",
        "cannotDisseminateFormat",
        True,
    ),
    (
        "verb=GetRecord&metadataPrefix=marc21&identifier=oai:forvarv.example.org:bib/99",
        "idDoesNotExist",
        True,
    ),
    (
        "verb=GetRecord&metadataPrefix=marc21&identifier=oai:other.example.org:bib/100001",
        "idDoesNotExist",
        True,
    ),
    (
        "verb=GetRecord&metadataPrefix=marc21&identifier=oai:forvarv.example.org:item/1",
        "idDoesNotExist",
        True,
    ),
    (
        "verb=GetRecord&metadataPrefix=marc21&identifier=oai:forvarv.example.org:bib/0100001",
        "idDoesNotExist",
        True,
    ),
    ("verb=GetRecord&metadataPrefix=marc21&identifier=bib/100001", "idDoesNotExist", True),
    ("verb=ListMetadataFormats&identifier=oai:forvarv.example.org:hold/1", "idDoesNotExist", True),
    (f"{LR}&set=bib:NOPE", "noRecordsMatch", True),
    (f"{LR}&set=supplier:NOPE", "noRecordsMatch", True),
    (f"{LR}&set=shelf", "noRecordsMatch", True),
    (f"{LR}&set=bib:S:x", "noRecordsMatch", True),
    ("verb=ListRecords&metadataPrefix=oai_dc&set=hold", "noRecordsMatch", True),
    ("verb=ListIdentifiers&metadataPrefix=marc21_withholdings&set=hold:S", "noRecordsMatch", True),
    (f"{LR}&from=2100-01-01", "noRecordsMatch", True),
    (f"{LR}&until=2000-01-01", "noRecordsMatch", True),
    (f"{LR}&from=2024-03-01T12:00:01Z&until=2024-03-01T12:00:01Z", "noRecordsMatch", True),
    ("verb=ListRecords&resumptionToken=abc", "badResumptionToken", True),
    ("verb=ListIdentifiers&resumptionToken=", "badResumptionToken", True),
    ("verb=ListSets&resumptionToken=abc", "badResumptionToken", True),
]


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await seed.add_library(conn, "S", "Kungliga biblioteket")
        bib = await seed.add_bib(conn, "Ett", at=T0)
        assert bib == 100001
        hold = await seed.add_holding(conn, bib, "S", at=T0)
        assert hold == 500001


@pytest.mark.parametrize(("query", "code", "echo"), CASES)
async def test_error(endpoint: Endpoint, seeded: None, query: str, code: str, echo: bool) -> None:
    root = await endpoint.raw(query)  # asserts HTTP 200 and schema validity
    assert error_code(root) == code
    assert len(root.findall("o:error", NS)) == 1
    request = root.find("o:request", NS)
    assert request is not None
    assert request.text == endpoint.url
    if echo:
        expected = {k: v for k, v in (p.split("=", 1) for p in query.split("&"))}
        assert request.get("verb") == expected["verb"]
        assert set(request.attrib) == set(expected)
    else:
        assert dict(request.attrib) == {}


async def test_inclusive_ranges_at_both_granularities(endpoint: Endpoint, seeded: None) -> None:
    for lo, hi in (
        ("0001-01-01", "9999-12-31"),
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"),
        ("2024-03-01", "2024-03-01"),
        ("2024-03-01T12:00:00Z", "2024-03-01T12:00:00Z"),
        ("2024-02-29T00:00:00Z", "2024-03-01T12:00:00Z"),
    ):
        q = urlencode({"verb": "ListIdentifiers", "metadataPrefix": "marc21", "from": lo, "until": hi})
        root = await endpoint.raw(q)
        assert error_code(root) is None
        assert len(root.findall(".//o:header", NS)) == 2  # the bib and its holding
        request = root.find("o:request", NS)
        assert request is not None
        assert request.get("from") == lo
