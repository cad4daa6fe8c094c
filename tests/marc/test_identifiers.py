from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import isbn as std_isbn

from protocols.marc.identifiers import (
    carrier,
    extract,
    match_class,
    normalize_ean,
    normalize_isbn,
    normalize_issn,
    normalize_sysno,
)
from protocols.marc.record import ControlField, DataField, Record
from tests.marc.helpers import libris, read_file
from tests.xmlschemas import testdata as shared_data


def rec(
    *fields: DataField, leader: str = "00000cam a2200000 i 4500", control: list[ControlField] | None = None
) -> Record:
    return Record(leader, control or [], list(fields))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("978-91-502-2231-9", ("9789150222319", None)),
        ("91-27-10850-3", ("9789127108509", None)),
        ("184533213X (hbk.)", ("9781845332136", None)),
        ("184533213x", ("9781845332136", None)),
        ("9781845332136 (hbk.)", ("9781845332136", None)),
        ("0553268473 (pbk.) :", ("9780553268478", None)),
        ("(0373197527pbk.) :", ("9780373197521", None)),
        ("ISBN 978 91 502 2231 9 inbunden", ("9789150222319", None)),
        ("9791032305690", ("9791032305690", None)),
        ("978184533213X (hbk.)", (None, "ISBN_INVALID")),
        ("4980858214bbd :", (None, "ISBN_CHECK_DIGIT")),
        ("9789150222310", (None, "ISBN_CHECK_DIGIT")),
        ("HL00361126 :", (None, "ISBN_INVALID")),
        ("089542262X295", (None, "ISBN_INVALID")),
        ("inbunden", (None, "ISBN_INVALID")),
    ],
)
def test_normalize_isbn(raw: str, expected: tuple[str | None, str | None]) -> None:
    assert normalize_isbn(raw) == expected


@given(st.from_regex(r"\A(97[89][0-9]{9}|[0-9]{9})[0-9X]\Z"))
def test_isbn_check_digits_are_stdnums(raw: str) -> None:
    """The hand-written check-digit arithmetic answers as python-stdnum does, valid or not."""
    isbn13, problem = normalize_isbn(raw)
    if std_isbn.is_valid(raw):
        assert (isbn13, problem) == (std_isbn.to_isbn13(raw), None)
    else:
        assert isbn13 is None and problem in ("ISBN_CHECK_DIGIT", "ISBN_INVALID")


def test_isbn10_and_13_are_the_same_key() -> None:
    r = rec(
        DataField("020", " ", " ", [("a", "184533213X (hbk.)")]),
        DataField("020", " ", " ", [("a", "9781845332136")]),
    )
    assert extract(r).keys() == ["isbn:9781845332136"]


def test_issn_and_sysno_normalisation() -> None:
    assert normalize_issn("2049-3630") == "2049-3630"
    assert normalize_issn("ISSN 2049 3630") == "2049-3630"
    assert normalize_issn("2434-561x") == "2434-561X"
    assert normalize_issn("2049-3631") is None
    assert normalize_sysno("  (BOKR)  9789150222319_OLD ") == "(BOKR)9789150222319_OLD"
    assert normalize_sysno("( OCoLC ) ocm 123") == "(OCoLC)ocm 123"


def test_libris_fixture_keys() -> None:
    assert extract(libris("batch0.xml")[0]).keys() == [
        "isbn:9789150222319",
        "sysno:(BOKR)9789150222319_OLD",
        "sysno:(SE-LIBR)20203738",
    ]
    assert extract(libris("batch2.xml")[0]).isbns == ["9789127108509"]  # ISBN-10 with hyphens
    assert extract(libris("batch3.xml")[0]).isbns == ["9789127108509"]
    batch4 = extract(libris("batch4.xml")[0])  # only in 020 $z
    assert batch4.isbns == batch4.isbns_z == ["9789127108509"]
    assert extract(libris("batch8.xml")[0]).isbns == ["9789127108509"]
    assert extract(libris("batch5.xml")[0]).keys() == ["issn:2049-3630", "sysno:(SE-LIBR)20203738"]
    batch11 = extract(libris("batch11.xml")[0])
    assert batch11.eans == ["5051895056684"]
    assert "ean:5051895056684" in set(batch11.keys())
    ids = extract(libris("batch10.xml")[0])
    assert (ids.control_001, ids.control_003) == ("1390474", "SE-LIBR")


def test_badisbns() -> None:
    records = read_file(shared_data("marc/badisbns.xml"))
    found = [extract(r) for r in records]
    # record 7: $z 978184533213X is invalid, $a 184533213X and $a 9781845332136 are one ISBN
    assert found[6].isbns == ["9781845332136"]
    assert found[6].rejected == ["978184533213X (hbk.)"]
    assert [w.code for w in found[6].warnings] == ["ISBN_INVALID"]
    assert found[2].isbns == ["9780553204308", "9780553268478"]
    assert [w.code for w in found[3].warnings] == ["ISBN_CHECK_DIGIT"]
    assert found[4].isbns == ["9780440487333"]
    assert found[7].isbns == ["9780373197521"]
    assert found[0].isbns == []
    assert [w.code for w in found[0].warnings] == ["ISBN_INVALID"]
    for ids in found:
        assert all(
            k.startswith(("isbn:978", "isbn:979", "issn:", "ean:", "sysno:")) for k in list(ids.keys())
        )
        assert all(w.tag in ("020", "022", "024") and not w.is_error for w in ids.warnings)


def test_ean_rules() -> None:
    r = rec(
        DataField("024", "3", " ", [("a", "9789150222319")]),  # Bookland EAN: also an ISBN
        DataField("024", "3", " ", [("a", "9790060115615")]),  # ISMN: not an ISBN
        DataField("024", "3", " ", [("a", "5051895056683")]),  # bad check digit
        DataField("024", "1", " ", [("a", "5051895056684")]),  # not an EAN (UPC indicator)
        DataField("024", "3", " ", [("a", "CNE220704980")]),
    )
    ids = extract(r)
    assert ids.eans == ["9789150222319", "9790060115615"]
    assert ids.isbns == ["9789150222319"]
    assert [w.code for w in ids.warnings] == ["EAN_INVALID", "EAN_INVALID"]


def test_001_without_003_is_not_a_sysno() -> None:
    ids = extract(rec(control=[ControlField("001", "42")]))
    assert ids.sysnos == []
    assert ids.control_001 == "42"
    assert ids.control_003 is None
    assert ids.keys() == []
    assert ids.pairs() == []


def test_issn_warning() -> None:
    ids = extract(rec(DataField("022", " ", " ", [("a", "2049-3631"), ("z", "2049-3630"), ("l", "bogus")])))
    assert ids.issns == ["2049-3630"]
    assert [w.code for w in ids.warnings] == ["ISSN_INVALID"]


# --- carrier ----------------------------------------------------------------------------
def test_carrier_libris() -> None:
    assert carrier(libris("batch7.xml")[0]) == "electronic"  # 007 cr
    assert carrier(libris("batch9.xml")[0]) == "electronic"  # 007 c|
    assert carrier(libris("batch6.xml")[0]) == "electronic"  # Leader/06 m
    assert carrier(libris("batch0.xml")[0]) == "print"
    assert match_class(libris("batch6.xml")[0]) == "m:electronic"
    assert match_class(libris("batch7.xml")[0]) == "a:electronic"
    assert match_class(libris("batch0.xml")[0]) == "a:print"
    assert match_class(libris("batch0.xml")[1]) == "x:print"


@pytest.mark.parametrize(
    ("type_", "pos", "form", "expected"),
    [
        ("a", 23, "o", "electronic"),
        ("a", 23, "q", "electronic"),
        ("c", 23, "s", "electronic"),
        ("p", 23, "s", "electronic"),
        ("a", 23, "r", "print"),
        ("a", 29, "o", "print"),
        ("e", 29, "o", "electronic"),
        ("g", 29, "s", "electronic"),
        ("g", 23, "o", "print"),
        ("k", 29, " ", "print"),
    ],
)
def test_carrier_from_008(type_: str, pos: int, form: str, expected: str) -> None:
    f008 = list(" " * 40)
    f008[pos] = form
    r = rec(leader=f"00000c{type_}m a2200000 i 4500", control=[ControlField("008", "".join(f008))])
    assert carrier(r) == expected


def test_sysno_whitespace_is_any_unicode_whitespace() -> None:
    assert normalize_sysno("\u00a0(BOKR\u2003)\u3000 12\t\n34\x1c\x85") == "(BOKR)12 34"
    assert normalize_sysno(" \u2028 ") == ""
    assert normalize_sysno("(X)\u200b1") == "(X)\u200b1"  # zero width space is not whitespace


def test_fields_are_read_in_record_order_whatever_the_tag_order() -> None:
    r = Record(
        "00000cam a2200000 i 4500",
        [ControlField("003", "ORG"), ControlField("001", " 7 "), ControlField("001", "8")],
        [
            DataField("035", " ", " ", [("a", "(B)2"), ("z", "(C)3")]),
            DataField("020", " ", " ", [("z", "9789150222319")]),
            DataField("035", " ", " ", [("a", "(A)1")]),
            DataField("020", " ", " ", [("a", "0-306-40615-2")]),
            DataField("024", "3", " ", [("a", "9789150222319")]),
        ],
    )
    ids = extract(r)
    assert ids.isbns == ["9780306406157", "9789150222319"]
    assert ids.isbns_z == ["9789150222319"]
    assert ids.sysnos == ["(B)2", "(A)1", "(ORG)7"]
    assert (ids.control_001, ids.control_003) == ("7", "ORG")


def test_ean_forms_are_one_number() -> None:
    """12 (UPC-A), 13 and zero-led 14 digits of one GTIN are one identifier; an EAN-8 is padded the
    same way; a GTIN-14 with a leading non-zero digit (another packaging level) stays apart."""
    forms = ["075678164125", "0075678164125", "00075678164125", "0 75678 16412 5"]
    for form in forms:
        ids = extract(rec(DataField("024", "3", " ", [("a", form)])))
        assert ids.eans == ["0075678164125"], form
        assert "ean:0075678164125" in set(ids.keys())
    assert extract(rec(DataField("024", "3", " ", [("a", "96385074")]))).eans == ["0000096385074"]
    assert extract(rec(DataField("024", "3", " ", [("a", "10075678164122")]))).eans == ["10075678164122"]
    # a Bookland EAN sent as 14 digits is still the ISBN it is
    zero_led = extract(rec(DataField("024", "3", " ", [("a", "09789150222319")])))
    assert zero_led.eans == ["9789150222319"] and zero_led.isbns == ["9789150222319"]
    assert normalize_ean("0000000000000") == "0000000000000"
