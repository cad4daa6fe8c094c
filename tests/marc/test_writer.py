from __future__ import annotations

import timeit

import pytest
from lxml import etree

from protocols.marc.record import ControlField, DataField, Record
from protocols.marc.validate import check
from protocols.marc.writer import collection, to_marcxml
from protocols.marc.xmlreader import read_marcxml
from tests.marc.helpers import fixture_files, read_file
from tests.xmlschemas import assert_valid

NS = "{http://www.loc.gov/MARC21/slim}"


def _normalised() -> list[Record]:
    out = []
    for path in fixture_files():
        for record in read_file(path):
            new, errors, _ = check(record)
            assert not errors
            out.append(new)
    return out


def test_collection_of_all_fixtures_is_schema_valid_and_reads_back() -> None:
    records = _normalised()
    document = collection(records).encode()
    root = assert_valid("marc/MARC21slim.xsd", document)
    assert len(root) == len(records)
    back = [r.record for r in read_marcxml([document])]
    assert back == records


def test_single_record_is_schema_valid() -> None:
    record = _normalised()[0]
    text = to_marcxml(record)
    assert text.startswith('<record xmlns="http://www.loc.gov/MARC21/slim" type="Bibliographic"><leader>')
    assert not text.startswith("<?xml")
    assert_valid("marc/MARC21slim.xsd", text.encode())


def test_escaping_and_illegal_characters() -> None:
    record = Record(
        "00000cam a2200000 i 4500",
        [ControlField("001", "a&b<c>")],
        [DataField("245", "1", "0", [("a", 'R. Smith & Co. <"x"> \x00\x1b\x1f\ud800\ufffe\uffff\t\n\rok')])],
    )
    text = to_marcxml(record)
    root = etree.fromstring(text.encode())
    assert root.find(f"{NS}controlfield").text == "a&b<c>"
    assert root.find(f"{NS}datafield/{NS}subfield").text == 'R. Smith & Co. <"x"> \ufffd\ufffd\ufffd\t\n\nok'
    assert root.get("type") == "Bibliographic"


def test_holdings_type_and_order() -> None:
    record = Record(
        "00000nx  a22000001n 4500",
        [ControlField("001", "1"), ControlField("004", "2")],
        [DataField("852", " ", " ", [("b", "Sods"), ("h", "Hc")])],
    )
    root = etree.fromstring(to_marcxml(record).encode())
    assert root.get("type") == "Holdings"
    assert [etree.QName(e).localname for e in root] == ["leader", "controlfield", "controlfield", "datafield"]
    assert [(e.get("code"), e.text) for e in root[3]] == [("b", "Sods"), ("h", "Hc")]


def test_writer_is_fast_enough() -> None:
    # Not a benchmark: a generous ceiling that only catches accidental tree building.
    record = _normalised()[0]
    assert 1500 < len(to_marcxml(record).encode()) < 4000
    seconds = min(timeit.repeat(lambda: to_marcxml(record), number=200, repeat=5)) / 200
    assert seconds < 300e-6


def test_plain_path_gives_what_escaping_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    from protocols.marc import writer

    values = ["plain", "Göteborg", "日本語", "a<b", "a>b", 'a"b', "a&b", "a'b", "\x00", "x\x1b", "\t\n\r", "\x7f\x9f",
              "\ud800", "\ufffe", "\uffff", "日<本", "日&", "Ü\x01", "", "\u00ff\u0100", "Smith & Sons", "&&amp;",
              "Å & <", 'Å & "', "日 & >", "& \x01", "日 & \ud800", "&\t"]
    records = [Record("00000cam a2200000 i 4500", [ControlField("001", "1")],
                      [DataField("245", "1", "0", [("a", "Title"), ("b", value)])]) for value in values]
    records += [Record("00000cam a2200000 i 4500", [ControlField("001", value)],
                       [DataField("245", "1", "0", [("a", "T")])]) for value in values]
    records += [Record("00000nx  a2200000 i 4500", [], [DataField("852", value[:1] or " ", " ", [("b", "Sods")])])
                for value in values]
    records += [Record("00000cam a2200000 i 4500", [ControlField("0&1", "1")],
                       [DataField("2&5", "&", " ", [("&", "Titel & undertitel"), ("b", "Å")])])]
    records += _normalised()
    plain = [(to_marcxml(r), to_marcxml(r, namespace=False)) for r in records]
    monkeypatch.setattr(writer, "_to_marcxml_plain", lambda record, head: None)
    escaped = [(to_marcxml(r), to_marcxml(r, namespace=False)) for r in records]
    assert plain == escaped


def test_written_text_never_needs_cleaning_before_it_is_embedded() -> None:
    # gateway.intake.prepare stores xml_unsafe = False for every text this writer made, without
    # asking stored_xml_unsafe (migration 0006): this is what lets it.
    from protocols.xmlchars import stored_xml_unsafe

    values = [" leading", "\ttab", "<?xml x?>", "&#1;", "&#x1;", "&#65535;", "&#xFFFE;", "\x00", "x\x1b", "\ud800",
              "\ufffe", "\uffff", "日\x01", "Å & <", "&amp;#2;", "\x85\u2028", "plain"]
    records = [Record(value[:24].ljust(24), [ControlField("001", value), ControlField(value[:3] or "00", value)],
                      [DataField(value[:3] or "245", value[:1] or " ", value[-1:] or " ",
                                 [(value[:1] or "a", value), ("b", value)])]) for value in values]
    records += _normalised()
    for record in records:
        for namespace in (True, False):
            text = to_marcxml(record, namespace=namespace)
            assert not stored_xml_unsafe(text), (record, text)
