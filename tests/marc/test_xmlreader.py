from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterator

import pytest

from protocols.marc.record import BIBLIOGRAPHIC, HOLDINGS
from protocols.marc.xmlreader import (
    MarcXmlParser,
    XMLFault,
    XMLSyntaxFault,
    read_marcxml,
)
from protocols.marc.xmlscan import MarcXmlScanner, scan_marcxml
from tests.marc.helpers import chunks, fixture_files, libris, read_file
from tests.xmlschemas import testdata as shared_data

NS = "http://www.loc.gov/MARC21/slim"
REC = (
    "<{p}record><{p}leader>00000nam a2200000 a 4500</{p}leader>"
    '<{p}controlfield tag="001">1</{p}controlfield>'
    '<{p}datafield tag="245" ind1="1" ind2="0"><{p}subfield code="a">T</{p}subfield></{p}datafield>'
    "</{p}record>"
)


def doc(records: int = 2, prefix: str = "", decl: str = f' xmlns="{NS}"') -> bytes:
    p = f"{prefix}:" if prefix else ""
    body = "".join(REC.format(p=p) for _ in range(records))
    return f'<?xml version="1.0"?>\n<{p}collection{decl}>{body}</{p}collection>'.encode()


def codes(data: bytes) -> list[list[str]]:
    return [[p.code for p in r.problems] for r in read_marcxml([data])]


# --- fixtures -------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
def test_every_fixture_reads_in_any_chunking(size: int) -> None:
    for path in fixture_files():
        data = path.read_bytes()
        results = list(read_marcxml(chunks(data, size)))
        assert [r.position for r in results] == list(range(1, len(results) + 1))
        assert all(r.record is not None and not r.problems for r in results), path
        assert (
            scan_marcxml(chunks(data, size)) == len(results) == len(re.findall(rb"</(?:\w+:)?record>", data))
        )


def test_libris_bib_then_holdings() -> None:
    for path in sorted(shared_data("libris-batchimport").glob("batch*.xml")):
        records = read_file(path)
        assert records[0].kind == BIBLIOGRAPHIC
        assert records[0].type_attr == "Bibliographic"
        assert len(records) >= 2
        for holding in records[1:]:
            assert holding.kind == HOLDINGS
            assert holding.leader == "XXXXXax  a22XXXXX1n 4500"
            (f852,) = holding.fields("852")
            assert (f852.ind1, f852.ind2) == ("", "")  # empty indicators kept raw for validation
    assert [r.first("b") for r in (h.datafields[0] for h in libris("batch15.xml")[1:])] == ["Sods", "Li", "G"]


def test_sample1a_prefixed_namespace_and_004_links() -> None:
    records = read_file(shared_data("marc/sample1a.xml"))
    assert [r.kind[0] for r in records] == list("BHHBHBHBH")
    bib_ids = {r.control("001") for r in records if r.kind == BIBLIOGRAPHIC}
    bib = None
    links = []
    for r in records:
        if r.kind == BIBLIOGRAPHIC:
            bib = r.control("001")
        else:
            links.append((bib, r.control("004")))
    # every holding follows its bib, except one that points to a record not in the file
    assert sum(a == b for a, b in links) == len(links) - 1
    assert [b for _, b in links if b not in bib_ids] == ["367589"]


def test_badisbns_reads_all_ten() -> None:
    records = read_file(shared_data("marc/badisbns.xml"))
    assert len(records) == 10
    assert all(r.kind == BIBLIOGRAPHIC for r in records)


def test_nfc_normalisation() -> None:
    decomposed = unicodedata.normalize("NFD", "Vidén får")
    data = doc(1).replace(b">T<", f">{decomposed}<".encode())
    (result,) = read_marcxml([data])
    assert result.record is not None
    assert result.record.datafields[0].subfields == [("a", "Vidén får")]


# --- namespace variants -------------------------------------------------------------------
def test_prefixed_and_default_namespace_and_single_record_root() -> None:
    assert codes(doc(2, "marc", f' xmlns:marc="{NS}"')) == [[], []]
    assert codes(doc(2)) == [[], []]
    single = REC.format(p="").replace("<record>", f'<record xmlns="{NS}" type="Bibliographic">', 1)
    (r,) = read_marcxml([single.encode()])
    assert r.record is not None
    assert r.record.type_attr == "Bibliographic"
    assert not r.problems


def test_no_namespace_is_accepted_with_warning() -> None:
    assert codes(doc(2, decl="")) == [["MARCXML_NO_NAMESPACE"], ["MARCXML_NO_NAMESPACE"]]
    assert scan_marcxml([doc(3, decl="")]) == 3


@pytest.mark.parametrize(
    "data",
    [
        b'<collection xmlns="urn:other"><record/></collection>',
        b'<x:collection xmlns:x="urn:other"/>',
        b"<html><body>hello</body></html>",
        b'<oai xmlns="http://www.openarchives.org/OAI/2.0/"><record xmlns="' + NS.encode() + b'"/></oai>',
    ],
)
def test_foreign_root_is_fatal(data: bytes) -> None:
    with pytest.raises(XMLFault) as exc:
        list(read_marcxml([data]))
    assert exc.value.code == "MARCXML_FOREIGN_ROOT"
    with pytest.raises(XMLFault):
        scan_marcxml([data])


def test_zero_records() -> None:
    assert list(read_marcxml([f'<collection xmlns="{NS}"/>'.encode()])) == []
    assert scan_marcxml([f'<collection xmlns="{NS}">\n</collection>'.encode()]) == 0


# --- hostile input --------------------------------------------------------------------------
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE collection [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<collection xmlns="http://www.loc.gov/MARC21/slim"><record><leader>&xxe;</leader></record></collection>"""

LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']>\n<collection xmlns="http://www.loc.gov/MARC21/slim"><record><leader>&lol9;</leader></record></collection>'
)

EXTERNAL_DTD = (
    b'<?xml version="1.0"?>\n<!DOCTYPE collection SYSTEM "http://example.invalid/marc.dtd">\n'
    b'<collection xmlns="http://www.loc.gov/MARC21/slim"/>'
)

PARAM_ENTITY = (
    b'<!DOCTYPE c [<!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext;]>'
    b'<collection xmlns="http://www.loc.gov/MARC21/slim"/>'
)


@pytest.mark.parametrize(
    "data", [XXE, LAUGHS, EXTERNAL_DTD, PARAM_ENTITY], ids=["xxe", "laughs", "dtd", "pe"]
)
def test_doctype_is_refused_fast(data: bytes) -> None:
    for run in (lambda d: list(read_marcxml(d)), scan_marcxml):
        started = time.perf_counter()
        with pytest.raises(XMLFault) as exc:
            run(chunks(data, 30))
        assert exc.value.code == "XML_DTD_FORBIDDEN"
        assert "root:" not in str(exc.value)  # nothing from /etc/passwd leaked into the message
        assert time.perf_counter() - started < 1


def test_doctype_refused_on_first_chunk() -> None:
    scanner = MarcXmlScanner()
    with pytest.raises(XMLFault, match="XML_DTD_FORBIDDEN"):
        scanner.feed(XXE[:120])  # the parser has not even seen the root yet


def test_doctype_after_comment_and_bom_and_utf16() -> None:
    data = b"\xef\xbb\xbf<?xml version='1.0'?><!-- hi --> " + XXE.split(b"?>", 1)[1]
    with pytest.raises(XMLFault, match="XML_DTD_FORBIDDEN"):
        list(read_marcxml([data]))
    with pytest.raises(XMLFault, match="XML_DTD_FORBIDDEN"):
        list(read_marcxml([XXE.decode().replace('<?xml version="1.0"?>', "").encode("utf-16")]))


def test_truncated_xml_reports_line_and_column() -> None:
    data = doc(3)[:-40]
    with pytest.raises(XMLSyntaxFault) as exc:
        list(read_marcxml(chunks(data)))
    assert exc.value.code == "XML_SYNTAX"
    assert exc.value.line == 2
    assert exc.value.column is not None
    assert exc.value.column > 1
    scanner = MarcXmlScanner()
    scanner.feed(data)
    with pytest.raises(XMLSyntaxFault):
        scanner.close()


def test_records_before_the_error_are_yielded_first() -> None:
    data = doc(3) + b"<junk/>"
    seen: list[int] = []

    def consume() -> None:
        for result in read_marcxml(chunks(data, 50)):
            seen.append(result.position)

    with pytest.raises(XMLSyntaxFault):
        consume()
    assert seen == [1, 2, 3]


def test_invalid_utf8_is_fatal_with_position() -> None:
    data = doc(2).replace(b">T<", b">T\xff\xfe<", 1)
    with pytest.raises(XMLSyntaxFault) as exc:
        list(read_marcxml([data]))
    assert exc.value.code == "XML_ENCODING"
    assert exc.value.line == 2
    assert exc.value.column


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"\x00\x01\x02\xff garbage \x9f" * 10, b"00714cam  2200205 a 4500\x1e\x1d", b"<a><b></a>"],
)
def test_garbage_and_empty_body(data: bytes) -> None:
    with pytest.raises(XMLFault):
        list(read_marcxml(chunks(data, 8)))
    with pytest.raises(XMLFault):
        scan_marcxml([data])


def test_control_characters_are_not_well_formed() -> None:
    with pytest.raises(XMLSyntaxFault):
        list(read_marcxml([doc(1).replace(b">T<", b">T\x01<")]))


# --- per-record structural errors ---------------------------------------------------------
def test_unreadable_record_does_not_abort_stream() -> None:
    bad = (
        '<record><leader>00000nam a2200000 a 4500</leader><datafield ind1=" " ind2=" ">'
        '<subfield code="a">x</subfield></datafield></record>'
        '<record><leader>00000nam a2200000 a 4500</leader><datafield tag="245" ind1=" " ind2=" ">'
        "<subfield>x</subfield></datafield></record>"
        '<record><controlfield tag="001">1</controlfield></record>'
        '<record xmlns="urn:x"><leader/></record>'
    )
    data = doc(1).replace(b"<record>", bad.encode() + b"<record>", 1)
    results = list(read_marcxml([data]))
    assert [(r.position, r.record is None) for r in results] == [
        (1, True),
        (2, True),
        (3, True),
        (4, True),
        (5, False),
    ]
    assert [[p.code for p in r.problems] for r in results[:4]] == [
        ["MARCXML_NO_TAG"],
        ["MARCXML_NO_CODE"],
        ["MARCXML_NO_LEADER"],
        ["MARCXML_FOREIGN_RECORD"],
    ]
    assert all(p.is_error for r in results[:4] for p in r.problems)


def test_unknown_elements_and_comments() -> None:
    data = doc(1).replace(b"<leader>", b"<!-- c --><?pi x?><foo>bar</foo><leader>", 1)
    (r,) = read_marcxml([data])
    assert r.record is not None
    assert [p.code for p in r.problems] == ["MARCXML_UNKNOWN_ELEMENT"]


# --- the one-walk reading of plain records ---------------------------------------------------
_LEADER = "<leader>00000nam a2200000 a 4500</leader>"
_SHAPES = {
    "plain": f'{_LEADER}<controlfield tag="001">1</controlfield>'
             '<datafield tag="245" ind1="1" ind2="0"><subfield code="a">T</subfield><subfield code="b">B</subfield>'
             '</datafield><datafield tag="500" ind1="" ind2=""/>',
    "non-ascii, empty texts": f'{_LEADER}<controlfield tag="008"></controlfield><datafield tag="100" ind1=" " '
                              'ind2=" "><subfield code="a">A\u0308ngstro\u0308m</subfield><subfield code="b"/>'
                              '</datafield>',
    "subfield in a subfield": f'{_LEADER}<datafield tag="245" ind1=" " ind2=" "><subfield code="a">x'
                              '<subfield code="b">y</subfield>z</subfield></datafield>',
    "subfield in the record": f'{_LEADER}<datafield tag="245" ind1=" " ind2=" "><subfield code="a">x</subfield>'
                              '</datafield><subfield code="b">y</subfield>',
    "subfield after a control field": f'{_LEADER}<datafield tag="245" ind1=" " ind2=" "/>'
                                      '<controlfield tag="001">1</controlfield><subfield code="a">y</subfield>',
    "datafield in a datafield": f'{_LEADER}<datafield tag="245" ind1=" " ind2=" "><datafield tag="246" '
                                'ind1=" " ind2=" "><subfield code="a">y</subfield></datafield></datafield>',
    "element in a control field": f'{_LEADER}<controlfield tag="001">1<b>2</b>3</controlfield>',
    "element in the leader": '<leader>00000nam a2200000 <b>a</b> 4500</leader>',
    "datafield in the last subfield": f'{_LEADER}<datafield tag="245" ind1=" " ind2=" "><subfield code="a">x'
                                      '<datafield tag="246" ind1=" " ind2=" "><subfield code="a">y</subfield>'
                                      '</datafield></subfield></datafield>',
    "control field in the last subfield": f'{_LEADER}<datafield tag="245" ind1=" " ind2=" "><subfield code="a">'
                                          'x<controlfield tag="001">1</controlfield></subfield></datafield>',
    "control field in a control field": f'{_LEADER}<controlfield tag="001">1<controlfield tag="003">X'
                                        '</controlfield></controlfield>',
    "subfield in a control field": f'{_LEADER}<controlfield tag="001">1<subfield code="a">x</subfield>'
                                   '</controlfield>',
    "data field in the leader": '<leader>00000nam a2200000 a 4500<datafield tag="245" ind1=" " ind2=" ">'
                                '<subfield code="a">x</subfield></datafield></leader>',
    "element in a subfield": f'{_LEADER}<datafield tag="245" ind1=" " ind2=" "><subfield code="a">x<i>y</i>'
                             '</subfield></datafield>',
    "two leaders": f"{_LEADER}{_LEADER}",
    "no leader": '<controlfield tag="001">1</controlfield>',
    "leader last": f'<controlfield tag="001">1</controlfield>{_LEADER}',
    "unknown element": f'{_LEADER}<foo><subfield code="a">x</subfield></foo>',
    "no tag, no code": f'{_LEADER}<datafield ind1=" " ind2=" "><subfield>x</subfield></datafield>',
    "foreign element": f'{_LEADER}<x:datafield xmlns:x="urn:x" tag="245"><x:subfield code="a">t</x:subfield>'
                       '</x:datafield>',
}


@pytest.mark.parametrize("shape", sorted(_SHAPES))
@pytest.mark.parametrize("prefix", ["", "m"])
def test_one_walk_reads_as_field_by_field(shape: str, prefix: str) -> None:
    from lxml import etree

    from protocols.marc.xmlreader import element_to_record

    body = _SHAPES[shape].encode().decode("unicode_escape")
    if prefix:
        body = re.sub(r"<(/?)(leader|controlfield|datafield|subfield|b|i|foo)\b", rf"<\1{prefix}:\2", body)
    xmlns = f' xmlns:{prefix}="{NS}"' if prefix else f' xmlns="{NS}"'
    p = f"{prefix}:" if prefix else ""
    elem = etree.fromstring(f'<{p}record{xmlns} type="Bibliographic">{body}</{p}record>')
    walked, careful = element_to_record(elem, 3), element_to_record(elem, 3, walk=False)
    assert walked.record == careful.record
    assert [(x.code, x.message) for x in walked.problems] == [(x.code, x.message) for x in careful.problems]
    if shape == "plain":
        assert walked.record is not None and walked.record.datafields[0].subfields == [("a", "T"), ("b", "B")]


def test_one_walk_reads_every_fixture_as_field_by_field() -> None:
    from lxml import etree

    from protocols.marc.xmlreader import element_to_record

    compared = 0
    for path in fixture_files():
        root = etree.parse(str(path)).getroot()
        for elem in root.iter(f"{{{NS}}}record"):
            assert element_to_record(elem, 1) == element_to_record(elem, 1, walk=False), path
            compared += 1
    assert compared > 20


# --- push API and scale -------------------------------------------------------------------
def test_push_parser_and_scanner_agree() -> None:
    data = doc(25)
    parser, scanner = MarcXmlParser(), MarcXmlScanner()
    results = []
    for piece in chunks(data, 33):
        results.extend(parser.feed(piece))
        scanner.feed(piece)
    results.extend(parser.close())
    assert len(results) == scanner.close() == parser.count == 25


def _generated(n: int) -> Iterator[bytes]:
    yield f'<?xml version="1.0" encoding="UTF-8"?>\n<marc:collection xmlns:marc="{NS}">\n'.encode()
    for i in range(n):
        yield (
            f"<marc:record><marc:leader>00000nam a2200000 a 4500</marc:leader>"
            f'<marc:controlfield tag="001">{i}</marc:controlfield>'
            f'<marc:datafield tag="245" ind1="1" ind2="0"><marc:subfield code="a">Titel {i} &amp; åäö'
            f"</marc:subfield></marc:datafield></marc:record>\n"
        ).encode()
    yield b"</marc:collection>\n"


def _rechunk(pieces: Iterator[bytes], size: int) -> Iterator[bytes]:
    buf = b""
    for piece in pieces:
        buf += piece
        if len(buf) >= size:
            yield buf
            buf = b""
    yield buf


def test_50k_generated_records_stream() -> None:
    n = 50_000
    count = 0
    for result in read_marcxml(_rechunk(_generated(n), 65536)):
        assert result.record is not None
        assert result.record.controlfields[0].value == str(count)
        count += 1
        assert result.position == count
    assert count == n
    assert result.record.datafields[0].subfields == [("a", f"Titel {n - 1} & åäö")]
    assert scan_marcxml(_rechunk(_generated(n), 65536)) == n
