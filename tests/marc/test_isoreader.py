from __future__ import annotations

import pytest

from protocols.marc.isoreader import IsoFault, IsoParser, IsoScanner, read_iso2709, scan_iso2709
from protocols.marc.record import ControlField, DataField, Record
from protocols.marc.validate import check
from protocols.marc.writer import to_iso2709
from tests.marc.helpers import chunks, fixture_files, read_file


def _iso(leader9: bytes, fields: list[tuple[bytes, bytes]]) -> bytes:
    """Hand-built ISO 2709 so the payload bytes are exactly as given (MARC-8, Latin-1 ...)."""
    directory = b""
    data = b""
    for tag, body in fields:
        body += b"\x1e"
        directory += tag + b"%04d%05d" % (len(body), len(data))
        data += body
    base = 24 + len(directory) + 1
    length = base + len(data) + 1
    leader = b"%05dnam %s22%05d a 4500" % (length, leader9, base)
    return leader + directory + b"\x1e" + data + b"\x1d"


def _all_fixture_records() -> list[Record]:
    return [check(r)[0] for path in fixture_files() for r in read_file(path)]


def test_round_trip_all_fixtures() -> None:
    records = _all_fixture_records()
    data = b"".join(to_iso2709(r) for r in records)
    assert scan_iso2709(chunks(data, 100)) == len(records)
    back = list(read_iso2709(chunks(data, 100)))
    assert [b.position for b in back] == list(range(1, len(records) + 1))
    for original, result in zip(records, back, strict=True):
        assert not result.problems
        assert result.record is not None
        assert result.record.leader == original.leader  # validate computed the same lengths
        assert result.record.controlfields == original.controlfields
        assert result.record.datafields == original.datafields


def test_marc8_record_is_converted() -> None:
    # MARC-8: 0xE8 umlaut and 0xEA ring above are combining marks written *before* the letter.
    raw = _iso(b" ", [(b"001", b"m8"), (b"245", b"10\x1faSm\xe8org\xeaasbord")])
    (result,) = read_iso2709([raw])
    assert result.record is not None, result.problems
    assert result.record.leader[9] == "a"
    assert result.record.datafields[0].subfields == [("a", "Smörgåsbord")]


def test_latin1_option() -> None:
    raw = _iso(b"a", [(b"001", b"l1"), (b"245", b"10\x1faV\xe4xthus \xe5t \xf6ster")])
    (bad,) = read_iso2709([raw])  # as declared by Leader/09 ('a'), the bytes are invalid UTF-8
    assert bad.record is None
    assert [p.code for p in bad.problems] == ["ISO_DECODE_ERROR"]
    (good,) = read_iso2709([raw], encoding="latin1")
    assert good.record is not None
    assert good.record.datafields[0].subfields == [("a", "Växthus åt öster")]
    assert good.record.leader[9] == "a"


def test_utf8_forced_and_nfc() -> None:
    raw = _iso(b" ", [(b"001", b"u"), (b"245", b"10\x1fa" + "Vide\u0301n".encode())])
    (r,) = read_iso2709([raw], encoding="utf-8")
    assert r.record is not None
    assert r.record.datafields[0].subfields == [("a", "Vidén")]


def test_bad_record_does_not_abort_stream() -> None:
    good = _iso(b"a", [(b"001", b"1"), (b"245", b"10\x1faOne")])
    body = b"nam a2200037 a 4500001XXXX00000\x1eabc\x1e\x1d"
    broken_directory = b"%05d" % (len(body) + 5) + body
    wrong_length = b"99999" + good[5:]
    bad_utf8 = _iso(b"a", [(b"001", b"3"), (b"245", b"10\x1fa\xff")])
    data = good + b"\r\n" + broken_directory + wrong_length + bad_utf8 + good + b"\n"
    results = list(read_iso2709(chunks(data, 13)))
    assert [r.position for r in results] == [1, 2, 3, 4, 5]
    assert [r.record is not None for r in results] == [True, False, True, False, True]
    assert [[p.code for p in r.problems] for r in results] == [
        [],
        ["ISO_DECODE_ERROR"],
        ["ISO_LENGTH_MISMATCH"],
        ["ISO_DECODE_ERROR"],
        [],
    ]
    scanner = IsoScanner()
    for piece in chunks(data, 13):
        scanner.feed(piece)
    assert scanner.close() == 5
    assert scanner.length_mismatches == 1


def test_truncated_last_record() -> None:
    good = _iso(b"a", [(b"001", b"1"), (b"245", b"10\x1faOne")])
    data = good + good[:-10]
    results = list(read_iso2709([data]))
    assert [r.record is not None for r in results] == [True, False]
    with pytest.raises(IsoFault, match="truncated"):
        scan_iso2709([data])


@pytest.mark.parametrize(
    "data",
    [
        b"<?xml version='1.0'?><collection/>",
        b"\x00\x01\x02\x03\x04\x05 binary garbage \x1d",
        b"12",
        b"x" * 200_000,
    ],
)
def test_scanner_rejects_non_iso(data: bytes) -> None:
    with pytest.raises(IsoFault) as exc:
        scan_iso2709(chunks(data, 4096))
    assert exc.value.code == "ISO_SYNTAX"


def test_empty_body() -> None:
    assert scan_iso2709([b""]) == 0
    assert list(read_iso2709([b""])) == []
    parser = IsoParser()
    assert parser.feed(b"\r\n") == []
    assert parser.close() == []


def test_writer_output_reads_back_equal() -> None:
    record = Record(
        "00000cam a2200000 i 4500",
        [ControlField("001", "x&y"), ControlField("008", "170327s2017    sw ||||j     |00| 0|swe d")],
        [DataField("245", "1", "0", [("a", 'Å <title> & "more"'), ("b", "日本語")])],
    )
    record = check(record)[0]
    (back,) = read_iso2709([to_iso2709(record)])
    assert back.record == Record(record.leader, record.controlfields, record.datafields)
