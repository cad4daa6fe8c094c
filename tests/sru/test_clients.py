"""Real SRU clients against the real endpoint: YAZ's zoomsh and yaz-client (Debian package
``yaz``), and sruthi. Every body they received was schema-checked by the fixture.

The YAZ tests skip with a reason when the binaries are absent (``apt-get install yaz``).
"""

from __future__ import annotations

import asyncio
import shutil

import asyncpg
import pytest
import sruthi

from tests.sru.conftest import Endpoint
from tests.sru.seed import Book, add_books

pytestmark = pytest.mark.clients

BOOKS = [
    Book(1, "Malmö : en stad", creators=["Ström, Åsa"], subjects=["Städer"], isbns=["9173435015"], year="2019",
         holdings=["S"]),
    Book(2, "Röda rummet", creators=["Strindberg, August"], subjects=["Stockholm"], year="1879"),
    Book(3, "Hemsöborna", creators=["Strindberg, August"], subjects=["Skärgården"], year="1887"),
    Book(4, "Malmo\u0308 hamn", creators=["Berg, Nils"], subjects=["Hamnar"], year="2001", nfd=True),
    Book(5, "Göteborg", creators=["Öberg, Åke"], subjects=["Städer"], year="2005"),
]


@pytest.fixture
async def books(pool: asyncpg.Pool) -> None:
    await add_books(pool, BOOKS)


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (Debian package 'yaz': apt-get install yaz)")
    return path


async def run(binary: str, commands: list[str]) -> str:
    """Run a YAZ shell with commands on stdin; its output (the event loop keeps serving)."""
    process = await asyncio.create_subprocess_exec(
        need(binary), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    script = "\n".join([*commands, "quit", ""]).encode()
    out, _ = await asyncio.wait_for(process.communicate(script), timeout=60)
    return out.decode("utf-8", "replace")


# --- zoomsh ---------------------------------------------------------------------------------------

@pytest.mark.usefixtures("books")
@pytest.mark.parametrize(("method", "version"), [("get", "1.1"), ("get", "1.2"), ("post", "1.2"), ("get", "2.0")])
async def test_zoomsh_search_and_show(sru: Endpoint, method: str, version: str) -> None:
    out = await run("zoomsh", [
        f"set sru {method}", f"set sru_version {version}", f"connect {sru.url}",
        "search cql:dc.title=malmo", "show 0 2",
    ])
    assert f"{sru.url}: 2 hits" in out
    assert '<controlfield tag="001">1</controlfield>' in out
    assert '<controlfield tag="001">4</controlfield>' in out


@pytest.mark.usefixtures("books")
async def test_zoomsh_schemas(sru: Endpoint) -> None:
    out = await run("zoomsh", [
        "set sru get", "set sru_version 1.2", "set schema dc", f"connect {sru.url}",
        "search cql:dc.creator=strindberg", "show 0 2",
    ])
    assert "2 hits" in out
    assert "<dc:title>Röda rummet</dc:title>" in out
    assert "<dc:title>Hemsöborna</dc:title>" in out
    out = await run("zoomsh", [
        "set sru get", "set sru_version 1.2", "set schema marcxml-holdings", f"connect {sru.url}",
        "search cql:bath.isbn=91-7343-501-5", "show 0 1",
    ])
    assert "1 hits" in out
    assert '<datafield tag="841" ind1=" " ind2=" "><subfield code="5">S</subfield>' in out


@pytest.mark.usefixtures("books")
async def test_zoomsh_scan_and_diagnostics(sru: Endpoint) -> None:
    out = await run("zoomsh", [
        "set sru get", "set sru_version 1.2", f"connect {sru.url}", "scan cql:dc.subject=a",
        "search cql:dc.nosuch=x", "search cql:dc.title=*mo",
    ])
    lines = [line.strip() for line in out.splitlines()]
    assert "Städer 2" in lines
    assert "Hamnar 1" in lines
    assert "Unsupported index (info:srw/diagnostic/1:16)" in out
    assert "(info:srw/diagnostic/1:49)" in out


# --- yaz-client -----------------------------------------------------------------------------------

@pytest.mark.usefixtures("books")
async def test_yaz_client(sru: Endpoint) -> None:
    out = await run("yaz-client", [
        "sru get 1.2", f"open {sru.url}", "querytype cql",
        "find dc.creator = strindberg sortBy dc.date/sort.descending", "show 1",
        "scan dc.title = h", "find bath.possessingInstitution = S", "show 1",
        "find dc.title = x?y", "explain",
    ])
    assert "Number of hits: 2" in out
    assert "Number of hits: 1" in out
    first = out.index("pos=1 schema=info:srw/schema/1/marcxml-v1.1")
    assert out.index('<controlfield tag="001">3</controlfield>') > first  # 1887 before 1879
    assert "Hemsöborna: 1" in out
    assert "SRW diagnostic info:srw/diagnostic/1/28" in out
    assert "schema=http://explain.z3950.org/dtd/2.0/" in out
    assert '<name set="bath">possessingInstitution</name>' in out


# --- sruthi ---------------------------------------------------------------------------------------

@pytest.mark.usefixtures("books")
async def test_sruthi_pages_through_everything(sru: Endpoint) -> None:
    def harvest() -> list[dict[str, object]]:
        result = sruthi.searchretrieve(sru.url, query="cql.allRecords = 1", maximum_records=2)
        assert result.count == 5
        return list(result)

    records = await asyncio.to_thread(harvest)
    assert len(records) == 5
    assert {r["schema"] for r in records} == {"info:srw/schema/1/marcxml-v1.1"}


@pytest.mark.usefixtures("books")
async def test_sruthi_dublin_core_and_diagnostics(sru: Endpoint) -> None:
    def search() -> list[dict[str, object]]:
        return list(sruthi.searchretrieve(sru.url, query="dc.creator = strindberg sortBy dc.title",
                                          record_schema="dc"))

    records = await asyncio.to_thread(search)
    assert [r["title"] for r in records] == ["Hemsöborna", "Röda rummet"]

    def bad() -> None:
        sruthi.searchretrieve(sru.url, query="dc.title encloses x")

    with pytest.raises(sruthi.SruError, match="Unsupported relation"):
        await asyncio.to_thread(bad)


async def test_sruthi_explain(sru: Endpoint) -> None:
    info = await asyncio.to_thread(sruthi.explain, sru.url)
    assert info.sru_version == "1.2"
    assert info.server["port"] == sru.port
    assert info.database["title"] == "Förvärv Gateway"
    assert "marcxml" in info.schema
    assert info.config["maximumRecords"] == 100
    assert info.config["defaults"]["numberOfRecords"] == 10
