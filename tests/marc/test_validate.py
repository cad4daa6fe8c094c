from __future__ import annotations

import pytest

from protocols.marc.problems import CODES, Problem
from protocols.marc.record import BIBLIOGRAPHIC, HOLDINGS, ControlField, DataField, Record
from protocols.marc.validate import check
from protocols.marc.writer import iso_lengths, to_iso2709
from tests.marc.helpers import fixture_files, libris, read_file

BIB_LEADER = "00000cam a2200000 i 4500"


def bib(*datafields: DataField, leader: str = BIB_LEADER, control: tuple[ControlField, ...] = ()) -> Record:
    cfs = list(control) or [ControlField("001", "123")]
    dfs = list(datafields) or [DataField("245", "1", "0", [("a", "Title")])]
    return Record(leader, cfs, dfs)


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def test_all_fixtures_are_accepted() -> None:
    for path in fixture_files():
        for record in read_file(path):
            new, errors, _warnings = check(record)
            assert errors == [], (path, errors)
            assert len(new.leader) == 24
            length, base, _ = iso_lengths(new)
            assert new.leader[:5] == f"{length:05d}"
            assert new.leader[12:17] == f"{base:05d}"
            assert len(to_iso2709(new)) == length


def test_libris_holdings_placeholders_are_repaired() -> None:
    """Libris's documented holdings template: repaired quietly (nothing for the supplier to fix)."""
    holding = libris("batch0.xml")[1]
    new, errors, warnings = check(holding, kind=HOLDINGS)
    assert errors == []
    assert warnings == []
    assert new.leader[5:12] == "nx  a22"
    assert new.leader[17:] == "1n 4500"
    assert new.leader[:5].isdigit()
    assert new.leader[12:17].isdigit()
    assert (new.datafields[0].ind1, new.datafields[0].ind2) == (" ", " ")
    assert holding.leader.startswith("XXXXX")  # the input is not modified
    assert new.kind == HOLDINGS
    assert new.type_attr == HOLDINGS


def test_libris_bib_is_clean() -> None:
    new, errors, warnings = check(libris("batch0.xml")[0], kind=BIBLIOGRAPHIC)
    assert (errors, warnings) == ([], [])
    assert new.leader == "00739cam a22002418i 4500"


def test_every_code_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "marc-problems.md").read_text()
    for code, (severity, description) in CODES.items():
        assert f"`{code}`" in doc, code
        assert severity in ("fatal", "error", "warning")
        assert description


@pytest.mark.parametrize(
    ("leader", "code"),
    [
        ("", "LEADER_INVALID"),
        ("00000cam a2200000", "LEADER_INVALID"),
        ("00000c?m a2200000 i 4500", "LEADER_TYPE_INVALID"),
        ("00000c m a2200000 i 4500", "LEADER_TYPE_INVALID"),
    ],
)
def test_leader_errors(leader: str, code: str) -> None:
    _, errors, _ = check(bib(leader=leader))
    assert codes(errors) == [code]


@pytest.mark.parametrize(
    ("leader", "fixed", "warning"),
    [
        ("\n  00000cam a2200000 i 4500 \n", "cam a22", "LEADER_TRIMMED"),
        ("XX?XXcam a22XXXXX i 4500", "cam a22", "LEADER_LENGTHS_FIXED"),
        ("00000cam  2200000 i 4500", "cam a22", "LEADER_CODING_FIXED"),
        ("00000cam a0000000 i 0000", "cam a22", "LEADER_FIXED_POSITIONS"),
        ("00000zam a2200000 i 4500", "nam a22", "LEADER_STATUS_INVALID"),
        ("00000cam#a2200000 i 4500", "cam a22", "LEADER_CHAR_INVALID"),
    ],
)
def test_leader_repairs(leader: str, fixed: str, warning: str) -> None:
    new, errors, warnings = check(bib(leader=leader))
    assert errors == []
    assert codes(warnings) == [warning]
    assert new.leader[5:12] == fixed.replace("#", " ")
    assert new.leader[20:] == "4500"


def test_type_attribute_and_kind() -> None:
    record = bib()
    record.type_attr = "Holdings"
    new, errors, warnings = check(record)
    assert codes(warnings) == ["TYPE_ATTR_MISMATCH"]
    assert new.type_attr == BIBLIOGRAPHIC
    assert errors == []
    _, errors, _ = check(bib(), kind=HOLDINGS)
    assert codes(errors) == ["KIND_MISMATCH"]


def test_field_errors() -> None:
    record = bib(
        DataField("245", "1", "0", [("a", "Title")]),
        DataField("24", " ", " ", [("a", "x")]),
        DataField("2$5", " ", " ", [("a", "x")]),
        DataField("005", " ", " ", [("a", "x")]),
        DataField("500", " ", " ", [("A", "x"), ("ab", "y"), ("", "z"), ("a", "ok")]),
        control=(ControlField("001", "1"), ControlField("010", "x")),
    )
    new, errors, _ = check(record)
    assert sorted(codes(errors)) == sorted(
        [
            "TAG_INVALID",
            "TAG_INVALID",
            "DATAFIELD_TAG_INVALID",
            "SUBFIELD_CODE_INVALID",
            "CONTROL_TAG_INVALID",
        ]
    )
    assert all(p.is_error and p.severity == "error" for p in errors)
    assert new.datafields[-1].subfields == [("a", "ok")]


def test_field_normalisations() -> None:
    record = bib(
        DataField("245", "", "X", [("a", "  Title  "), ("b", "")]),
        DataField("5a0", "1", "#", [("a", "x\x01y\ufffe")]),
        DataField("600", " ", " ", [("a", "   ")]),
        control=(ControlField("001", "1\n"), ControlField("00a", "z"), ControlField("003", "")),
    )
    new, errors, warnings = check(record)
    assert errors == []
    assert sorted(set(codes(warnings))) == sorted(
        [
            "INDICATOR_FIXED",
            "WHITESPACE_TRIMMED",
            "EMPTY_SUBFIELD",
            "TAG_LOWERCASE",
            "INVALID_CHARACTERS",
            "EMPTY_FIELD",
        ]
    )
    assert [(df.tag, df.ind1, df.ind2, df.subfields) for df in new.datafields] == [
        ("245", " ", "x", [("a", "Title")]),
        ("5A0", "1", " ", [("a", "xy\ufffd")]),
    ]
    assert [(cf.tag, cf.value) for cf in new.controlfields] == [("001", "1"), ("00A", "z")]
    assert all(not p.is_error for p in warnings)


def test_no_fields() -> None:
    _, errors, _ = check(Record(BIB_LEADER))
    assert codes(errors) == ["NO_FIELDS"]


def test_missing_245_and_no_identifier() -> None:
    record = Record(BIB_LEADER, [ControlField("008", "x" * 40)], [DataField("500", " ", " ", [("a", "n")])])
    _, errors, _ = check(record)
    assert codes(errors) == ["MISSING_245", "NO_IDENTIFIER"]


@pytest.mark.parametrize(
    "field",
    [
        DataField("020", " ", " ", [("z", "garbage")]),
        DataField("022", " ", " ", [("a", "1234-5678")]),
        DataField("024", "3", " ", [("a", "123")]),
        DataField("035", " ", " ", [("a", "(X)1")]),
    ],
)
def test_any_identifier_even_invalid_is_enough(field: DataField) -> None:
    record = Record(BIB_LEADER, [], [DataField("245", "1", "0", [("a", "T")]), field])
    _, errors, _ = check(record)
    assert errors == []


def test_024_other_indicator_is_not_an_identifier() -> None:
    record = Record(
        BIB_LEADER, [], [DataField("245", "1", "0", [("a", "T")]), DataField("024", "1", " ", [("a", "1")])]
    )
    assert codes(check(record)[1]) == ["NO_IDENTIFIER"]


def test_holding_without_sigel() -> None:
    leader = "00000nx  a22000001n 4500"
    ok = Record(leader, [], [DataField("852", " ", " ", [("b", "Sods")])])
    assert check(ok, kind=HOLDINGS)[1] == []
    bad = Record(leader, [ControlField("004", "1")], [DataField("852", " ", " ", [("h", "Hc")])])
    assert codes(check(bad, kind=HOLDINGS)[1]) == ["HOLDING_NO_SIGEL"]
    assert codes(check(Record(leader, [ControlField("004", "1")]))[1]) == ["HOLDING_NO_SIGEL"]


def test_too_long_for_iso2709_is_a_warning() -> None:
    record = bib(DataField("245", "1", "0", [("a", "T")]), DataField("520", " ", " ", [("a", "x" * 12000)]))
    _new, errors, warnings = check(record)
    assert errors == []
    assert codes(warnings) == ["RECORD_TOO_LONG"]


def test_duplicate_problems_are_collapsed() -> None:
    record = bib(*[DataField("245", "#", "", [("a", "T")]) for _ in range(5)])
    _, _, warnings = check(record)
    assert codes(warnings) == ["INDICATOR_FIXED"]
    assert str(warnings[0]).startswith("INDICATOR_FIXED [245]: ")


def test_several_leader_repairs_at_once() -> None:
    # each repair reads the leader as sent; one problem per code (the first position found)
    new, errors, warnings = check(bib(leader="XX?XXza#%b00XXXXX#@!0000"))
    assert errors == []
    assert [str(p) for p in warnings] == [
        "LEADER_STATUS_INVALID: Leader/05 'z' is not valid; set to 'n'",
        "LEADER_CHAR_INVALID: Leader/07 '#' was blanked",
        "LEADER_CODING_FIXED: Leader/09 'b' set to 'a' (records are stored as UTF-8)",
        "LEADER_FIXED_POSITIONS: Leader/10-11 must be '22' and /20-23 '4500'",
        "LEADER_LENGTHS_FIXED: record length and base address were recomputed",
    ]
    assert new.leader == "00064na  a2200049u  4500"  # Leader/17 '#': level unknown, not full


def test_a_fill_character_encoding_level_is_unknown_not_full() -> None:
    new, errors, warnings = check(bib(leader="00000cam a2200000|i 4500"))
    assert errors == []
    assert new.leader[17] == "u"
    assert [str(p) for p in warnings] == ["LEADER_CHAR_INVALID: Leader/17 '|' set to 'u' (level unknown)"]


def _fast_path_records() -> list[Record]:
    """Clean records and near misses: values the fast path must send to `_fields` or pass as they are."""
    out: list[Record] = []
    for path in fixture_files():
        out.extend(read_file(path))
    values = ["ok", "Göteborg", "日本語", "x\u2028", "\x85x", "\u00a0x", "x\u3000", " x", "x ", "", "a\x01b",
              "a\ud800", "\ufffe", "x\ty", "<&>\"'", "\x7f\x9f"]
    for value in values:
        title = DataField("245", "1", "0", [("a", "Title"), ("b", value)])
        out.append(bib(title, DataField("020", " ", " ", [("a", "1")])))
        out.append(bib(control=(ControlField("001", value), ControlField("008", "x" * 40))))
    for ind in ["", "A", "#", "  ", "1"]:
        out.append(bib(DataField("245", ind, "0", [("a", "Title")])))
    for code in ["a", "A", "", "ab", "9", "$"]:
        out.append(bib(DataField("245", "1", "0", [(code, "Title")])))
    for tag in ["245", "24", "2a5", "010", "009", "1000"]:
        out.append(bib(DataField(tag, "1", "0", [("a", "Title")])))
    out.append(bib(DataField("245", "1", "0", [])))
    return out


def test_fast_path_gives_what_the_field_by_field_checks_give(monkeypatch: pytest.MonkeyPatch) -> None:
    from protocols.marc import validate

    records = _fast_path_records()
    fast = [check(record) for record in records]
    monkeypatch.setattr(validate, "_fields_unchanged", lambda record: None)
    slow = [check(record) for record in records]
    assert fast == slow
    assert sum(1 for _, errors, warnings in fast if not errors and not warnings) > 10


def test_checked_record_can_be_changed_without_changing_the_input() -> None:
    # what the loader does to a checked record: set, drop and add control fields, add data fields
    for record in [libris("batch0.xml")[0], *_fast_path_records()]:
        before = repr(record)
        new, _, _ = check(record)
        for cf in new.controlfields:
            cf.value = "changed"
        new.set_control("001", "1")
        new.remove_control("004")
        new.controlfields.append(ControlField("004", "2"))
        new.controlfields.sort(key=lambda cf: cf.tag)
        new.add_datafield(DataField("035", " ", " ", [("a", "(X)1")]))
        new.datafields.append(DataField("999", " ", " ", [("a", "x")]))
        assert repr(record) == before


def test_quiet_repairs_are_only_the_template_s() -> None:
    """Blank-standing empty indicators, X placeholders and a holdings Leader/05 'a' are quiet;
    a bibliographic Leader/05 'a' is valid as it is, and other values still warn."""
    quiet = bib(DataField("245", "", "", [("a", "T")]), leader="XXXXXcam a22      i 4500")
    new, errors, warnings = check(quiet)
    assert (errors, warnings) == ([], [])
    assert (new.datafields[-1].ind1, new.datafields[-1].ind2) == (" ", " ")
    holding = Record("XXXXXax  a22XXXXX1n 4500", [], [DataField("852", "", "", [("b", "Sods")])])
    new, errors, warnings = check(holding, kind=HOLDINGS)
    assert (errors, warnings, new.leader[5]) == ([], [], "n")
    holding.leader = "XXXXXbx  a22XXXXX1n 4500"
    assert codes(check(holding, kind=HOLDINGS)[2]) == ["LEADER_STATUS_INVALID"]
    new, _, warnings = check(bib(leader="00000aam a2200000 i 4500"))
    assert (warnings, new.leader[5]) == ([], "a")
