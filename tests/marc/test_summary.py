from __future__ import annotations

from protocols.marc.record import ControlField, DataField, Record
from protocols.marc.summary import describe, trim
from tests.marc.helpers import libris, read_file
from tests.xmlschemas import testdata as shared_data


def test_libris_summary() -> None:
    s = describe(libris("batch11.xml")[0])
    assert s == {
        "title": "Polisbilen får ett larm",
        "creators": ["Bently, Peter", "Lightfoot, Marta", "Vidén, Eva"],
        "subjects": [],
        "publisher": "Berghs",
        "year": "2017",
        "language": "swe",
        "type": "text",
        "extent": "32 sidor",
        "edition": None,
        "isbns": ["9789150222319"],
        "issns": [],
        "eans": ["5051895056684"],
    }
    assert describe(libris("batch6.xml")[0])["type"] == "software, multimedia"
    assert describe(libris("batch5.xml")[0])["issns"] == ["2049-3630"]


def test_sample1a_summary() -> None:
    s = describe(read_file(shared_data("marc/sample1a.xml"))[0])
    assert s["title"] == "Seven financial conspiracies which have enslaved the American people"
    assert s["creators"] == ["Emery, Sarah E. Van De Vort, 1838-1895"]
    assert s["publisher"] == "R. Smith & Co"
    assert s["year"] == "1894"
    assert s["language"] == "eng"
    assert s["edition"] == "[Rev. ed.]"
    assert s["subjects"]


def test_fallbacks_and_subdivisions() -> None:
    record = Record(
        "00000nam a2200000 i 4500",
        [ControlField("008", "870818suuuu    miu           000 0     d")],
        [
            DataField("041", "0", " ", [("a", "swe"), ("a", "eng")]),
            DataField(
                "245",
                "0",
                "0",
                [
                    ("a", "Songs of the 60's :"),
                    ("b", "piano, vocal, guitar."),
                    ("n", "Vol. 2,"),
                    ("p", "Later /"),
                    ("c", "by X."),
                ],
            ),
            DataField("260", " ", " ", [("b", "H. Leonard,"), ("c", "c1989.")]),
            DataField("650", " ", "0", [("a", "Popular music"), ("y", "1961-1970."), ("v", "Scores.")]),
            DataField("651", " ", "0", [("a", "Sweden"), ("x", "History")]),
            DataField("650", " ", "0", [("a", "Popular music"), ("y", "1961-1970"), ("v", "Scores")]),
        ],
    )
    s = describe(record)
    assert s["title"] == "Songs of the 60's : piano, vocal, guitar. Vol. 2, Later"
    assert s["year"] == "1989"
    assert s["language"] == "swe"
    assert s["publisher"] == "H. Leonard"
    assert s["subjects"] == ["Popular music -- 1961-1970 -- Scores", "Sweden -- History"]
    assert s["creators"] == []
    assert s["extent"] is None


def test_trim() -> None:
    assert trim("Title /") == "Title"
    assert trim(" Berghs, ") == "Berghs"
    assert trim("Title : ") == "Title"
    assert trim("[Rev. ed.]") == "[Rev. ed.]"


def test_summary_values_as_jsonb() -> None:
    # the loader stores summaries through this codec; empty lists have a shortcut
    import json

    from gateway.store.db import _jsonb_decode, _jsonb_encode

    values: list[object] = [[], (), {}, [""], ["9789150222319"], "", None, {"isbns": []}, ["Göteborg"]]
    for value in values:
        assert _jsonb_encode(value) == b"\x01" + json.dumps(value, ensure_ascii=False).encode()
        assert _jsonb_decode(_jsonb_encode(value)) == json.loads(json.dumps(value))
