"""ListSets in pages: keyset by setSpec, resumption tokens like the record lists', real harvesters.

The endpoint's page size is 7 (tests.oai.conftest.Endpoint), so a few dozen libraries and
suppliers make several pages; every response is schema-checked by the endpoint fixture.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest
from lxml import etree
from oaipmh_scythe import Scythe
from sickle import Sickle

from gateway.oai.repository import SqlRepository
from protocols.oai.repository import LIBRARY, SUPPLIER
from protocols.oai.server import Server, ServerConfig
from protocols.oai.tokens import ListState, Position, SetsState, TokenCodec
from tests.oai import seed
from tests.oai.conftest import NS, SECRET, Endpoint, error_code

LIBRARIES = [f"L{i:02d}" for i in range(20)]
SUPPLIERS = [f"SUP{i}" for i in range(6)]


async def _registry(pool: asyncpg.Pool) -> list[str]:
    """20 libraries (one more that can be no set), 6 suppliers; the sets ListSets must name, in order."""
    async with pool.acquire() as conn:
        for sigel in reversed(LIBRARIES):  # stored out of order: the listing orders them
            await seed.add_library(conn, sigel, f"Bibliotek {sigel}")
        await seed.add_library(conn, "L05+Ö", "Not a setSpec")  # sorts among the others, listed nowhere
        for code in SUPPLIERS:
            await seed.add_supplier(conn, code, f"Leverantör {code} & co")
    return [
        "bib",
        "hold",
        *[spec for s in LIBRARIES for spec in (f"bib:{s}", f"hold:{s}")],
        *[f"supplier:{c}" for c in SUPPLIERS],
    ]


def _page(root: etree._Element) -> tuple[list[str], etree._Element | None]:
    assert error_code(root) is None, etree.tostring(root)
    specs = [e.text or "" for e in root.iterfind("o:ListSets/o:set/o:setSpec", NS)]
    return specs, root.find("o:ListSets/o:resumptionToken", NS)


async def _all_pages(endpoint: Endpoint) -> tuple[list[list[str]], list[etree._Element]]:
    pages, tokens = [], []
    specs, token = _page(await endpoint.get(verb="ListSets"))
    pages.append(specs)
    while token is not None:
        tokens.append(token)
        if not token.text:
            break
        specs, token = _page(await endpoint.get(verb="ListSets", resumptionToken=token.text))
        pages.append(specs)
    return pages, tokens


async def test_list_sets_is_paged_by_set_spec(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    expected = await _registry(pool)
    assert len(expected) == 48
    pages, tokens = await _all_pages(endpoint)
    assert [len(p) for p in pages] == [7] * 6 + [6]
    assert [spec for page in pages for spec in page] == expected  # each once, in set order
    assert pages[0][-1] == "bib:L02"
    assert pages[1][0] == "hold:L02"  # a library's two sets may straddle pages
    # cursor: sets sent before the page; completeListSize: counted at the start (the library
    # that cannot be a set counts there), exact on the last page
    assert [t.get("cursor") for t in tokens] == [str(7 * i) for i in range(7)]
    assert {t.get("completeListSize") for t in tokens[:-1]} == {"50"}
    assert tokens[-1].get("completeListSize") == "48"
    assert tokens[-1].text is None  # the empty token that ends a split list
    names = await endpoint.get(verb="ListSets")
    assert names.findtext("o:ListSets/o:set[3]/o:setName", namespaces=NS) == "Bibliotek L00: bibliographic records"


async def test_a_list_that_fits_one_page_has_no_token(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await seed.add_library(conn, "S", "KB")
        await seed.add_library(conn, "Sods", "Södertörn")
        await seed.add_supplier(conn, "BOKR", "Bokrondellen")
    specs, token = _page(await endpoint.get(verb="ListSets"))
    assert specs == ["bib", "hold", "bib:S", "hold:S", "bib:Sods", "hold:Sods", "supplier:BOKR"]  # 7: one page
    assert token is None
    async with pool.acquire() as conn:
        await seed.add_supplier(conn, "ZZ", "Sist")
    specs, token = _page(await endpoint.get(verb="ListSets"))
    assert len(specs) == 7
    assert token is not None
    assert token.text
    specs, token = _page(await endpoint.get(verb="ListSets", resumptionToken=token.text))
    assert specs == ["supplier:ZZ"]
    assert token is not None
    assert (token.text, token.get("cursor"), token.get("completeListSize")) == (None, "7", "8")


async def test_sets_added_or_removed_during_a_harvest_are_never_sent_twice(
    endpoint: Endpoint, pool: asyncpg.Pool
) -> None:
    expected = await _registry(pool)
    specs, token = _page(await endpoint.get(verb="ListSets"))
    assert specs == expected[:7]
    assert token is not None
    assert token.text
    async with pool.acquire() as conn:
        await seed.add_library(conn, "A0", "Före")  # before the position: in the next harvest
        await seed.add_library(conn, "L02a", "Efter")  # after it: in this one
        await conn.execute("DELETE FROM libraries WHERE sigel = 'L02'")  # the last one sent
        await conn.execute("DELETE FROM libraries WHERE sigel = 'L03'")  # one still to come
    got = list(specs)
    while token is not None and token.text:
        specs, token = _page(await endpoint.get(verb="ListSets", resumptionToken=token.text))
        got += specs
    assert len(got) == len(set(got))
    assert "bib:A0" not in got
    assert "hold:L02" not in got
    assert [s for s in got if s.endswith(("L02a", "L03"))] == ["bib:L02a", "hold:L02a"]
    assert got[-1] == "supplier:SUP5"


async def test_bad_tokens_are_bad_resumption_tokens(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    await _registry(pool)
    root = await endpoint.get(verb="ListSets")
    token = root.findtext("o:ListSets/o:resumptionToken", namespaces=NS)
    assert token
    codec = TokenCodec(SECRET.encode())
    when = datetime(2024, 3, 1, tzinfo=UTC)
    records_token = codec.encode(ListState("ListRecords", "marc21", None, None, when, Position(when, 0, 1), 7, 99))
    payload, mac = token.split(".")
    altered = payload[:5] + ("A" if payload[5] != "A" else "B") + payload[6:]
    for bad in (
        "x",
        "",
        f"{payload}.{mac[:-2]}",  # altered
        f"{altered}.{mac}",
        TokenCodec(b"another gateway's secret").encode_sets(SetsState("bib:L02", 7, 50)),
        records_token,  # a record list's token
        codec.encode_sets(SetsState("shelf:L02", 7, 50)),  # signed, but no set of this repository
        codec.encode_sets(SetsState("bib:", 7, 50)),
    ):
        root = await endpoint.get(verb="ListSets", resumptionToken=bad)
        assert error_code(root) == "badResumptionToken", bad
    for verb in ("ListRecords", "ListIdentifiers"):  # and a ListSets token is no record list's
        root = await endpoint.get(verb=verb, resumptionToken=token)
        assert error_code(root) == "badResumptionToken"
    root = await endpoint.get(verb="ListSets", resumptionToken=token, set="bib")
    assert error_code(root) == "badArgument"
    # a token is stateless: it still works after a restart
    await endpoint.restart()
    root = await endpoint.get(verb="ListSets", resumptionToken=token)
    assert error_code(root) is None
    # when every set after the token is gone, the harvest must start again
    last = codec.encode_sets(SetsState("supplier:SUP5", 47, 48))
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM suppliers WHERE code = 'SUP5'")
        await seed.add_supplier(conn, "SUP4a", "Mellan")  # before the position: not in this harvest
    root = await endpoint.get(verb="ListSets", resumptionToken=codec.encode_sets(SetsState("supplier:SUP4", 46, 48)))
    assert [e.text for e in root.iterfind(".//o:setSpec", NS)] == ["supplier:SUP4a"]
    root = await endpoint.get(verb="ListSets", resumptionToken=last)
    assert error_code(root) == "badResumptionToken"


async def test_page_size_one_still_moves_on(pool: asyncpg.Pool) -> None:
    expected = await _registry(pool)
    config = ServerConfig("http://127.0.0.1/oai", "forvarv.example.org", "a@example.org", page_size=1)
    server = Server(SqlRepository(pool), config, b"secret")
    got: list[str] = []
    pairs = [("verb", "ListSets")]
    for _ in range(100):
        body = "".join([chunk async for chunk in server.respond(pairs)])
        root = etree.fromstring(body.encode())
        specs, token = _page(root)
        got += specs
        if token is None or not token.text:
            break
        pairs = [("verb", "ListSets"), ("resumptionToken", token.text)]
    assert got == expected


async def test_repository_lists_libraries_then_suppliers_by_keyset(pool: asyncpg.Pool) -> None:
    await _registry(pool)
    repo = SqlRepository(pool)
    first = await repo.list_sets(None, 3)
    assert [(s.kind, s.code) for s in first] == [(LIBRARY, "L00"), (LIBRARY, "L01"), (LIBRARY, "L02")]
    assert [s.code for s in await repo.list_sets((LIBRARY, "L02"), 2)] == ["L03", "L04"]
    assert [s.code for s in await repo.list_sets((LIBRARY, "L02"), 2, inclusive=True)] == ["L02", "L03"]
    tail = await repo.list_sets((LIBRARY, "L18"), 4)
    assert [(s.kind, s.code) for s in tail] == [
        (LIBRARY, "L19"),
        (SUPPLIER, "SUP0"),
        (SUPPLIER, "SUP1"),
        (SUPPLIER, "SUP2"),
    ]
    assert [s.code for s in await repo.list_sets((SUPPLIER, "SUP4"), 9)] == ["SUP5"]
    assert [s.code for s in await repo.list_sets((SUPPLIER, "SUP5"), 9, inclusive=True)] == ["SUP5"]
    assert await repo.list_sets((SUPPLIER, "SUP5"), 9) == []
    assert await repo.count_sets() == (21, 6)


# --- real harvesters ----------------------------------------------------------------------------


def _sickle_sets(url: str) -> list[str]:
    return [s.setSpec for s in Sickle(url, max_retries=0).ListSets()]


def _scythe_sets(url: str) -> list[str]:
    with Scythe(url) as client:
        return [s.setSpec for s in client.list_sets()]  # type: ignore[union-attr]


@pytest.mark.clients
@pytest.mark.parametrize("harvester", ["sickle", "scythe"])
async def test_harvesters_get_every_set_exactly_once(endpoint: Endpoint, pool: asyncpg.Pool, harvester: str) -> None:
    expected = await _registry(pool)
    run = _sickle_sets if harvester == "sickle" else _scythe_sets
    got = await asyncio.to_thread(run, endpoint.url)
    assert got == expected
    assert len(endpoint.responses) == 7  # it followed the tokens, one page per request
