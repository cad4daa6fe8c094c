"""The six verbs against a real server and database; every response schema-validated."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime

import aiohttp
import asyncpg
from lxml import etree

from tests.oai import seed
from tests.oai.conftest import NS, Endpoint, check_document, error_code, identifiers

MARC = "{http://www.loc.gov/MARC21/slim}"
DC = "{http://purl.org/dc/elements/1.1/}"
T0 = datetime(2024, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)


async def test_identify(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await seed.add_bib(conn, "Ett", at=T0)
    root = await endpoint.get(verb="Identify")
    ident = root.find("o:Identify", NS)
    assert ident is not None
    assert ident.findtext("o:baseURL", namespaces=NS) == endpoint.url
    assert ident.findtext("o:adminEmail", namespaces=NS) == "oai-admin@forvarv.example.org"
    assert ident.findtext("o:earliestDatestamp", namespaces=NS) == "2024-03-01T12:00:00Z"
    assert ident.findtext("o:deletedRecord", namespaces=NS) == "persistent"
    assert ident.findtext("o:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    assert [c.text for c in ident.iterfind("o:compression", NS)] == ["gzip", "deflate"]
    oid = "{http://www.openarchives.org/OAI/2.0/oai-identifier}"
    assert ident.findtext(f".//{oid}repositoryIdentifier") == "forvarv.example.org"
    request = root.find("o:request", NS)
    assert request is not None
    assert request.attrib == {"verb": "Identify"}


async def test_identify_on_empty_repository(endpoint: Endpoint) -> None:
    root = await endpoint.get(verb="Identify")
    assert root.findtext(".//o:earliestDatestamp", namespaces=NS)


async def _library_with_records(pool: asyncpg.Pool) -> tuple[int, int, int]:
    async with pool.acquire() as conn:
        await seed.add_library(conn, "Sods", "Södertörns högskolebibliotek")
        await seed.add_library(conn, "S", "Kungliga biblioteket")
        sup = await seed.add_supplier(conn, "BOKR", "Bokrondellen")
        bib = await seed.add_bib(conn, "Polisbilen får ett larm", isbn="9789150222319", supplier_id=sup, at=T0)
        hold = await seed.add_holding(conn, bib, "Sods", at=T0)
        await seed.add_holding(conn, bib, "S", at=T0, shelf="Magasin")
    return bib, hold, sup


async def test_list_metadata_formats(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    bib, hold, _ = await _library_with_records(pool)
    prefixes = lambda root: [e.text for e in root.iterfind(".//o:metadataPrefix", NS)]  # noqa: E731
    root = await endpoint.get(verb="ListMetadataFormats")
    assert prefixes(root) == ["marc21", "marcxml", "marc21_withholdings", "oai_dc"]
    schemas = {e.text for e in root.iterfind(".//o:schema", NS)}
    assert "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd" in schemas
    root = await endpoint.get(verb="ListMetadataFormats", identifier=f"oai:forvarv.example.org:bib/{bib}")
    assert prefixes(root) == ["marc21", "marcxml", "marc21_withholdings", "oai_dc"]
    root = await endpoint.get(verb="ListMetadataFormats", identifier=f"oai:forvarv.example.org:hold/{hold}")
    assert prefixes(root) == ["marc21", "marcxml"]
    root = await endpoint.get(verb="ListMetadataFormats", identifier="oai:forvarv.example.org:bib/1")
    assert error_code(root) == "idDoesNotExist"


async def test_list_sets(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    await _library_with_records(pool)
    async with pool.acquire() as conn:
        await seed.add_library(conn, "Ö+1", "Not a set name")  # Ö and + cannot be in a setSpec
    root = await endpoint.get(verb="ListSets")
    sets = {
        e.findtext("o:setSpec", namespaces=NS): e.findtext("o:setName", namespaces=NS)
        for e in root.iterfind(".//o:set", NS)
    }
    assert set(sets) == {"bib", "hold", "bib:S", "hold:S", "bib:Sods", "hold:Sods", "supplier:BOKR"}
    assert "Södertörns högskolebibliotek" in (sets["bib:Sods"] or "")
    root = await endpoint.get(verb="ListSets", resumptionToken="x")
    assert error_code(root) == "badResumptionToken"


async def test_get_record_in_every_format(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    bib, hold, _ = await _library_with_records(pool)
    ident = f"oai:forvarv.example.org:bib/{bib}"
    for prefix in ("marc21", "marcxml"):
        root = await endpoint.get(verb="GetRecord", identifier=ident, metadataPrefix=prefix)
        header = root.find(".//o:header", NS)
        assert header is not None
        assert header.get("status") is None
        assert header.findtext("o:identifier", namespaces=NS) == ident
        assert header.findtext("o:datestamp", namespaces=NS) == "2024-03-01T12:00:00Z"
        assert [s.text for s in header.iterfind("o:setSpec", NS)] == [
            "bib",
            "bib:S",
            "bib:Sods",
            "supplier:BOKR",
        ]
        record = root.find(f".//o:metadata/{MARC}record", NS)
        assert record is not None
        assert record.get("type") == "Bibliographic"
        assert record.findtext(f"{MARC}controlfield[@tag='001']") == str(bib)

    root = await endpoint.get(verb="GetRecord", identifier=ident, metadataPrefix="oai_dc")
    dc = root.find(".//o:metadata/*", NS)
    assert dc is not None
    assert dc.findtext(f"{DC}title") == "Polisbilen får ett larm"
    assert [e.text for e in dc.iterfind(f"{DC}identifier")] == ["urn:isbn:9789150222319"]
    assert dc.findtext(f"{DC}creator") == "Bently, Peter"
    assert dc.findtext(f"{DC}date") == "2017"
    assert dc.findtext(f"{DC}language") == "swe"

    hid = f"oai:forvarv.example.org:hold/{hold}"
    root = await endpoint.get(verb="GetRecord", identifier=hid, metadataPrefix="marc21")
    record = root.find(f".//o:metadata/{MARC}record", NS)
    assert record is not None
    assert record.get("type") == "Holdings"
    assert record.findtext(f"{MARC}controlfield[@tag='004']") == str(bib)
    assert [s.text for s in root.iterfind(".//o:header/o:setSpec", NS)] == ["hold", "hold:Sods"]
    root = await endpoint.get(verb="GetRecord", identifier=hid, metadataPrefix="oai_dc")
    assert error_code(root) == "cannotDisseminateFormat"


async def test_marc21_withholdings_embeds_holdings_like_libris(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    bib, _, _ = await _library_with_records(pool)
    root = await endpoint.get(
        verb="GetRecord",
        identifier=f"oai:forvarv.example.org:bib/{bib}",
        metadataPrefix="marc21_withholdings",
    )
    record = root.find(f".//o:metadata/{MARC}record", NS)
    assert record is not None

    def fields(tag: str) -> list[list[tuple[str | None, str | None]]]:
        return [
            [(sf.get("code"), sf.text) for sf in df.iterfind(f"{MARC}subfield")]
            for df in record.iterfind(f"{MARC}datafield[@tag='{tag}']")
        ]

    assert fields("841") == [
        [("5", "S"), ("a", "x"), ("b", "170714||0000|||||000||||||000000"), ("e", "1")],
        [("5", "Sods"), ("a", "x"), ("b", "170714||0000|||||000||||||000000"), ("e", "1")],
    ]
    assert fields("852") == [
        [("5", "S"), ("b", "S"), ("h", "Magasin")],
        [("5", "Sods"), ("b", "Sods"), ("h", "Hylla")],
    ]
    assert fields("866") == [[("5", "S"), ("a", "1 ex.")], [("5", "Sods"), ("a", "1 ex.")]]
    assert record.findtext(f"{MARC}datafield[@tag='245']/{MARC}subfield") == "Polisbilen får ett larm"

    # Within bib:SIGEL only that library's holding is embedded.
    root = await endpoint.get(verb="ListRecords", metadataPrefix="marc21_withholdings", set="bib:Sods")
    record = root.find(f".//o:metadata/{MARC}record", NS)
    assert record is not None
    assert [sf.text for sf in record.iterfind(f"{MARC}datafield[@tag='841']/{MARC}subfield[@code='5']")] == ["Sods"]


async def test_forbidden_characters_never_make_an_invalid_document(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await seed.add_library(conn, "S", "Bad \x01 name \ufffe")
        bad = "Kontroll\x01tecken \x1b och \uffff"
        refs = '<datafield tag="500" ind1=" " ind2=" "><subfield code="a">&#x1F; &#31; &#9;</subfield></datafield>'
        bib = await seed.add_bib(conn, bad, at=T0, extra=refs)
        declared = await seed.add_bib(conn, "Deklarerad", at=T0)
        await conn.execute(
            "UPDATE bib_records SET marcxml = $2 || marcxml WHERE id = $1",
            declared,
            '<?xml version="1.0" encoding="UTF-8"?>\n',
        )
        await conn.execute(
            "UPDATE bib_records SET summary = jsonb_set(summary, '{title}', to_jsonb($2::text)) WHERE id = $1",
            bib,
            bad,
        )
        await seed.add_holding(conn, bib, "S", at=T0, shelf="Hylla\x02")
    for prefix in ("marc21", "oai_dc", "marc21_withholdings"):
        root = await endpoint.get(verb="ListRecords", metadataPrefix=prefix)
        assert identifiers(root)
        text = etree.tostring(root, encoding="unicode")
        assert "Kontroll\ufffdtecken" in text
        if prefix != "oai_dc":
            assert "\ufffd \ufffd \t" in text
            assert "Deklarerad" in text
    await endpoint.get(verb="ListSets")


async def test_post_is_answered_like_get(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    bib, _, _ = await _library_with_records(pool)
    root = await endpoint.post(
        verb="GetRecord", identifier=f"oai:forvarv.example.org:bib/{bib}", metadataPrefix="marc21"
    )
    assert identifiers(root) == [f"oai:forvarv.example.org:bib/{bib}"]
    root = await endpoint.post(verb="ListIdentifiers", metadataPrefix="marc21", set="hold:S")
    assert len(identifiers(root)) == 1
    root = await endpoint.post(verb="Nope")
    assert error_code(root) == "badVerb"
    async with aiohttp.ClientSession() as s, s.post(endpoint.url, json={"verb": "Identify"}) as r:
        assert r.status == 415


async def test_compression_follows_accept_encoding(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    await _library_with_records(pool)
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        for accept, coding, decode in (
            ("gzip", "gzip", gzip.decompress),
            ("deflate", "deflate", zlib.decompress),
            ("deflate;q=0.5, gzip;q=1.0", "gzip", gzip.decompress),
            ("gzip;q=0, deflate", "deflate", zlib.decompress),
        ):
            async with s.get(
                endpoint.url,
                params={"verb": "ListRecords", "metadataPrefix": "marc21"},
                headers={"Accept-Encoding": accept},
            ) as r:
                assert r.headers.get("Content-Encoding") == coding, accept
                root = check_document(decode(await r.read()))
                assert len(identifiers(root)) == 3
        for accept in ("identity", "gzip;q=0", "br"):
            async with s.get(endpoint.url, params={"verb": "Identify"}, headers={"Accept-Encoding": accept}) as r:
                assert "Content-Encoding" not in r.headers
                check_document(await r.read())


async def test_wired_by_the_app_factory(pool: asyncpg.Pool, db_url: str) -> None:
    """gateway.http.app.create_app routes /oai to this feature (all features, as deployed)."""
    from aiohttp.test_utils import TestClient, TestServer

    from gateway.config import Settings
    from gateway.http.app import create_app

    settings = Settings(public_url="http://gateway.example.org", secret="s", repository_id="forvarv.example.org")
    async with TestClient(TestServer(create_app(settings, database_url=db_url, run_workers=False))) as client:
        response = await client.get("/oai", params={"verb": "Identify"})
        assert response.status == 200
        root = check_document(await response.read())
        assert root.findtext(".//o:baseURL", namespaces=NS) == "http://gateway.example.org/oai"
        response = await client.post("/oai", data={"verb": "ListIdentifiers", "metadataPrefix": "marc21"})
        assert error_code(check_document(await response.read())) == "noRecordsMatch"
