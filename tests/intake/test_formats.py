"""Delivery formats: ISO 2709 in UTF-8, MARC-8 and declared Latin-1, gzip-encoded MARCXML, and
files delivered with `forvarv deliver` — all stored as NFC MARCXML."""

from __future__ import annotations

import asyncio
import gzip
import unicodedata
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from lxml import etree

from gateway import cli
from protocols.marc.record import ControlField, DataField, Record
from protocols.marc.writer import to_iso2709
from tests.intake.helpers import World, deliver

MARC_NS = "http://www.loc.gov/MARC21/slim"
NS = {"m": MARC_NS}
ISO = "application/marc"

FT, RT, SF = b"\x1e", b"\x1d", b"\x1f"


def iso_record(coding: str, fields: list[tuple[str, bytes]], status_type: str = "nam") -> bytes:
    """One ISO 2709 record from raw field bytes (data fields: indicators + \\x1f-subfields).

    Built by hand so the bytes can be MARC-8 or Latin-1, which no writer here produces.
    """
    directory, data = b"", b""
    for tag, content in fields:
        body = content + FT
        directory += f"{tag}{len(body):04d}{len(data):05d}".encode()
        data += body
    base = 24 + len(directory) + 1
    leader = f"{base + len(data) + 1:05d}{status_type} {coding}22{base:05d} i 4500"
    assert len(leader) == 24
    return leader.encode() + directory + FT + data + RT


def subfields(ind: bytes, *pairs: tuple[str, bytes]) -> bytes:
    return ind + b"".join(SF + code.encode() + value for code, value in pairs)


def raw_book(own_id: bytes, isbn: bytes, title: bytes, place: bytes, coding: str) -> bytes:
    return iso_record(coding, [
        ("001", own_id),
        ("008", b"170327s2017    sw ||||j     |00| 0|swe d"),
        ("020", subfields(b"  ", ("a", isbn))),
        ("245", subfields(b"10", ("a", title))),
        ("264", subfields(b" 1", ("a", place), ("b", b"Bonnier"))),
    ])


async def stored(pool: asyncpg.Pool, record_id: str) -> etree._Element:
    async with pool.acquire() as conn:
        xml = await conn.fetchval("SELECT marcxml FROM bib_records WHERE id = $1", int(record_id))
    assert unicodedata.is_normalized("NFC", xml), xml
    root: etree._Element = etree.fromstring(xml.encode())
    assert root.tag == f"{{{MARC_NS}}}record"
    return root


def sub(root: etree._Element, tag: str, code: str) -> str:
    values = root.xpath(f"m:datafield[@tag='{tag}']/m:subfield[@code='{code}']/text()", namespaces=NS)
    assert len(values) == 1, (tag, code, values)
    return str(values[0])


def leader(root: etree._Element) -> str:
    return str(root.findtext("m:leader", namespaces=NS))


def only_created(report: dict[str, Any]) -> list[dict[str, Any]]:
    assert report["status"] == "done", report
    assert all(r["outcome"] == "created" for r in report["records"]), report["records"]
    return list(report["records"])


# --- ISO 2709 ---------------------------------------------------------------------------------


async def test_iso2709_utf8_is_stored_as_nfc(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    decomposed = unicodedata.normalize("NFD", "Göteborgs Åländska öar")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    rec = Record("00000nam a2200000 i 4500", [ControlField("001", "u1")], [
        DataField("020", " ", " ", [("a", "9789150222319")]),
        DataField("100", "1", " ", [("a", "Strindberg, August")]),
        DataField("245", "1", "0", [("a", decomposed)]),
    ])
    body = to_iso2709(rec) + to_iso2709(Record("00000nam a2200000 i 4500", [ControlField("001", "u2")], [
        DataField("020", " ", " ", [("a", "91-0-000001-X")]),
        DataField("245", "1", "0", [("a", "Смерть Кощея")]),
    ]))
    assert body[9:10] == b"a"
    status, report = await deliver(client, world.supplier_token, body, content_type=ISO)
    assert status == 200, report
    first, second = only_created(report)
    assert report["format"] == "iso2709"
    assert first["title"] == "Göteborgs Åländska öar"
    root = await stored(pool, first["record_id"])
    assert sub(root, "245", "a") == "Göteborgs Åländska öar"
    assert sub(root, "100", "a") == "Strindberg, August"
    assert leader(root)[9] == "a"
    assert sub(await stored(pool, second["record_id"]), "245", "a") == "Смерть Кощея"


async def test_iso2709_marc8_is_converted(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    # MARC-8 (ANSEL): combining marks come *before* their base letter. 0xE8 = diaeresis,
    # 0xE2 = acute, 0xEA = ring above.
    body = raw_book(b"m8-1", b"9789150222319", b"G\xe8oteborg och Malm\xe8o", b"Caf\xe2e \xeaAngstr\xe8om",
                    " ")
    assert body[9:10] == b" "
    status, report = await deliver(client, world.supplier_token, body, content_type=ISO)
    assert status == 200, report
    (entry,) = only_created(report)
    assert entry["title"] == "Göteborg och Malmö"
    root = await stored(pool, entry["record_id"])
    assert sub(root, "245", "a") == "Göteborg och Malmö"
    assert sub(root, "264", "a") == "Café Ångström"
    assert leader(root)[9] == "a"  # stored as UTF-8 now


@pytest.mark.parametrize("content_type", [
    "application/marc; charset=iso-8859-1",
    "application/marc; charset=ISO-8859-1",
    'application/marc; charset="latin1"',
])
async def test_iso2709_declared_latin1(client: TestClient, world: World, pool: asyncpg.Pool,
                                       content_type: str) -> None:
    # Leader/09 says UTF-8 here, as it often wrongly does; the declared charset wins
    body = raw_book(b"l1-1", b"9789150222319", b"G\xf6teborg \xe5t \xc5sa", b"K\xf8benhavn", "a")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    status, report = await deliver(client, world.supplier_token, body, content_type=content_type)
    assert status == 200, report
    (entry,) = only_created(report)
    root = await stored(pool, entry["record_id"])
    assert sub(root, "245", "a") == "Göteborg åt Åsa"
    assert sub(root, "264", "a") == "København"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT charset FROM deliveries") == "iso-8859-1"


async def test_iso2709_bad_record_among_good_ones(client: TestClient, world: World,
                                                  pool: asyncpg.Pool) -> None:
    good1 = raw_book(b"g1", b"9789150222319", b"Ett", b"Stockholm", "a")
    good2 = raw_book(b"g2", b"9789100000018", b"Tv\xc3\xa5", b"Stockholm", "a")
    broken = bytearray(raw_book(b"x1", b"9789100000025", b"Trasig", b"Stockholm", "a"))
    broken[27:31] = b"ab!?"  # the first directory entry's field length is not a number
    bad_utf8 = raw_book(b"x2", b"9789100000032", b"Fel \xff kodning", b"Stockholm", "a")
    body = good1 + b"\r\n" + bytes(broken) + b"\r\n" + bad_utf8 + b"\r\n" + good2 + b"\r\n"
    status, report = await deliver(client, world.supplier_token, body, content_type=ISO)
    assert status == 200, report
    outcomes = [(r["position"], r["outcome"], [e["code"] for e in r["errors"]]) for r in report["records"]]
    assert outcomes[0] == (1, "created", [])
    assert outcomes[3] == (4, "created", [])
    assert outcomes[1][1:] == ("rejected", ["ISO_DECODE_ERROR"])
    assert outcomes[2][1:] == ("rejected", ["ISO_DECODE_ERROR"])
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bib_records") == 2


async def test_iso2709_truncated_body_is_refused(client: TestClient, world: World,
                                                 pool: asyncpg.Pool) -> None:
    whole = raw_book(b"g1", b"9789150222319", b"Ett", b"Stockholm", "a") * 2
    resp = await client.post("/deliveries", data=whole[:-30], headers={
        "Authorization": f"Bearer {world.supplier_token}", "Content-Type": ISO})
    assert resp.status == 400
    answer = await resp.json()
    assert answer["error"] == "bad_payload"
    assert answer["iso_code"] == "ISO_SYNTAX"
    assert answer["record"] == 2
    assert answer["offset"] == len(whole) // 2
    assert "truncated" in answer["message"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM deliveries") == 0
        assert await conn.fetchval("SELECT count(*) FROM delivery_chunks") == 0


# --- gzip -------------------------------------------------------------------------------------


def marcxml(*books: tuple[str, str, str]) -> bytes:
    records = "".join(
        '<record><leader>00000nam a2200000 i 4500</leader>'
        f'<controlfield tag="001">{own}</controlfield>'
        f'<datafield tag="020" ind1=" " ind2=" "><subfield code="a">{isbn}</subfield></datafield>'
        f'<datafield tag="245" ind1="1" ind2="0"><subfield code="a">{title}</subfield></datafield>'
        "</record>"
        for own, isbn, title in books
    )
    return f'<?xml version="1.0"?>\n<collection xmlns="{MARC_NS}">{records}</collection>'.encode()


async def test_gzip_encoded_marcxml_loads(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    plain = marcxml(("z1", "9789150222319", unicodedata.normalize("NFD", "Ödets gång")),
                    ("z2", "9789100000018", "Två"))
    status, report = await deliver(client, world.supplier_token, gzip.compress(plain),
                                   headers={"Content-Encoding": "gzip"})
    assert status == 200, report
    first, _ = only_created(report)
    assert report["size"] == len(plain)  # the decoded size is what counts
    assert sub(await stored(pool, first["record_id"]), "245", "a") == "Ödets gång"
    # the same document again, uncompressed: the same body, so the same delivery
    status, again = await deliver(client, world.supplier_token, plain)
    assert status == 200
    assert again["id"] == report["id"]


# --- forvarv deliver FILE ---------------------------------------------------------------------


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FORVARV_DATABASE_URL", db_url)
    monkeypatch.setenv("FORVARV_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FORVARV_MAX_BODY", raising=False)
    return tmp_path


async def forvarv(*args: str) -> int:
    return await asyncio.to_thread(cli.main, list(args))


async def test_cli_delivers_xml_and_gzip_files_idempotently(cli_env: Path, world: World, pool: asyncpg.Pool,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    xml_file = cli_env / "leverans.xml"
    xml_file.write_bytes(marcxml(("f1", "9789150222319", "Första filen"), ("f2", "9789100000018", "Andra")))
    gz_file = cli_env / "leverans2.xml.gz"
    gz_file.write_bytes(gzip.compress(marcxml(("f3", "9789100000025", "Packad"),
                                              ("f1", "9789150222319", "Första filen"))))

    assert await forvarv("deliver", str(xml_file), "--supplier", "BOKR", "--quiet") == 0
    out = capsys.readouterr().out
    assert f"{xml_file}: delivery 1 received" in out
    assert f"{xml_file}: delivery 1 done: 2 records, 2 created, 0 matched, 0 updated, 0 rejected" in out

    assert await forvarv("deliver", str(gz_file), "--supplier", "BOKR", "--quiet") == 0
    out = capsys.readouterr().out
    assert f"{gz_file}: delivery 2 received" in out
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, status, format, source, size, summary FROM deliveries"
                                " ORDER BY id")
        bibs = await conn.fetchval("SELECT count(*) FROM bib_records")
        results = await conn.fetchval("SELECT count(*) FROM delivery_records")
    assert [(r["id"], r["status"], r["format"], r["source"]) for r in rows] == [
        (1, "done", "marcxml", "file:leverans.xml"), (2, "done", "marcxml", "file:leverans2.xml.gz")]
    assert rows[1]["size"] == len(gzip.decompress(gz_file.read_bytes()))
    second = rows[1]["summary"]
    assert (second["created"], second["matched"] + second["updated"]) == (1, 1)
    assert bibs == 3

    # delivering both files again changes nothing
    assert await forvarv("deliver", str(xml_file), str(gz_file), "--supplier", "BOKR", "--quiet") == 0
    out = capsys.readouterr().out
    assert f"{xml_file}: delivery 1 already received (done)" in out
    assert f"{gz_file}: delivery 2 already received (done)" in out
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM deliveries") == 2
        assert await conn.fetchval("SELECT count(*) FROM bib_records") == bibs
        assert await conn.fetchval("SELECT count(*) FROM delivery_records") == results


async def test_cli_refuses_a_bad_file_and_an_unknown_supplier(cli_env: Path, world: World, pool: asyncpg.Pool,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    bad = cli_env / "trasig.xml"
    bad.write_bytes(marcxml(("f1", "9789150222319", "Första"))[:-20])
    assert await forvarv("deliver", str(bad), "--supplier", "BOKR", "--quiet") == 1
    err = capsys.readouterr().err
    assert f"error: {bad}: not a usable MARCXML document: XML_SYNTAX" in err
    good = cli_env / "bra.xml"
    good.write_bytes(marcxml(("f1", "9789150222319", "Första")))
    assert await forvarv("deliver", str(good), "--supplier", "NOSUCH", "--quiet") == 1
    assert "error: no supplier NOSUCH" in capsys.readouterr().err
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM deliveries") == 0


async def test_the_same_document_plain_or_gzipped_is_one_delivery(cli_env: Path, world: World, pool: asyncpg.Pool,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The idempotency hash is over the decoded payload, for files as for HTTP."""
    doc = marcxml(("g1", "9789150222319", "Samma"))
    plain, packed = cli_env / "samma.xml", cli_env / "samma.xml.gz"
    plain.write_bytes(doc)
    packed.write_bytes(gzip.compress(doc))
    assert await forvarv("deliver", str(plain), str(packed), "--supplier", "BOKR", "--quiet") == 0
    out = capsys.readouterr().out
    assert f"{plain}: delivery 1 received" in out
    assert f"{packed}: delivery 1 already received" in out
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM deliveries") == 1
