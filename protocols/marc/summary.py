"""Display and search fields extracted once, when a record is written (Dublin Core, SRU indexes)."""

from __future__ import annotations

import re
from typing import TypedDict

from .identifiers import Identifiers, extract
from .record import DataField, Record


class Summary(TypedDict):
    title: str | None
    creators: list[str]
    subjects: list[str]
    publisher: str | None
    year: str | None
    language: str | None
    type: str
    extent: str | None
    edition: str | None
    isbns: list[str]
    issns: list[str]
    eans: list[str]


#: Leader/06 -> type of resource (the MODS typeOfResource vocabulary).
RESOURCE_TYPES: dict[str, str] = {
    "a": "text",
    "t": "text",
    "c": "notated music",
    "d": "notated music",
    "e": "cartographic",
    "f": "cartographic",
    "g": "moving image",
    "i": "sound recording-nonmusical",
    "j": "sound recording-musical",
    "k": "still image",
    "m": "software, multimedia",
    "o": "mixed material",
    "p": "mixed material",
    "r": "three dimensional object",
    "u": "holdings",
    "v": "holdings",
    "x": "holdings",
    "y": "holdings",
}

_TRAILING = " /:;,.="
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_NAME_CODES = "abcdq"
_SUBDIVISIONS = "vxyz"


def trim(value: str) -> str:
    """Strip surrounding whitespace and trailing ISBD punctuation (" /:;,.=")."""
    value = value.strip().rstrip(_TRAILING).rstrip()
    return value


def _join(df: DataField, codes: str) -> str:
    return trim(" ".join([s for c, v in df.subfields if c in codes and (s := v.strip())]))


_CREATOR_TAGS = frozenset(("100", "110", "111", "700", "710", "711"))
_SUBJECT_TAGS = frozenset(("600", "610", "611", "630", "650", "651", "655"))
#: Other fields describe() reads, each collected in record order.
_OTHER_TAGS = ("245", "250", "260", "264", "300", "041")
#: tag -> the group describe() collects it in (creators and subjects keep record order across tags)
_GROUPS: dict[str, str] = {
    **{tag: "creators" for tag in _CREATOR_TAGS},
    **{tag: "subjects" for tag in _SUBJECT_TAGS},
    **{tag: tag for tag in _OTHER_TAGS},
}
_NO_FIELDS: list[DataField] = []  # never changed


def _title(fields: list[DataField]) -> str | None:
    for df in fields:
        title = _join(df, "abnp")
        if title:
            return title
    return None


def _creators(fields: list[DataField]) -> list[str]:
    out: list[str] = []
    for df in fields:
        codes = _NAME_CODES if df.tag.endswith("00") else "abcdn"
        name = _join(df, codes)
        if name and name not in out:
            out.append(name)
    return out


def _subjects(fields: list[DataField]) -> list[str]:
    out: list[str] = []
    for df in fields:
        main: list[str] = []
        parts: list[str] = []
        for code, value in df.subfields:
            if code in _SUBDIVISIONS:
                value = value.strip().rstrip(_TRAILING).rstrip()  # trim()
                if value:
                    parts.append(value)
            elif code in "abcdnpqt" and not parts:
                value = value.strip().rstrip(_TRAILING).rstrip()  # trim()
                if value:
                    main.append(value)
        heading = " -- ".join([" ".join(main), *parts] if main else parts)
        if heading and heading not in out:
            out.append(heading)
    return out


def _first(fields: list[DataField], code: str, ind2: str | None = None) -> str | None:
    for df in fields:
        if ind2 is not None and df.ind2 != ind2:
            continue
        value = df.first(code)
        if value:
            value = trim(value)
            if value:
                return value
    return None


def describe(record: Record, *, ids: Identifiers | None = None) -> Summary:
    """The summary of a record; `ids` saves extracting its identifiers again when the caller has them."""
    # one pass over the fields, keeping record order within each group
    groups: dict[str, list[DataField]] = {}
    for df in record.datafields:
        group = _GROUPS.get(df.tag)
        if group is not None:
            found = groups.get(group)
            if found is None:
                groups[group] = [df]
            else:
                found.append(df)
    other = groups.get
    f008 = record.control("008") or ""
    year: str | None = f008[7:11] if len(f008) >= 11 and f008[7:11].isdigit() else None
    if year is None:
        for source in (_first(other("264", _NO_FIELDS), "c", "1"), _first(other("260", _NO_FIELDS), "c")):
            if source and (m := _YEAR.search(source)):
                year = m.group(1)
                break
    language: str | None = None
    lang008 = f008[35:38] if len(f008) >= 38 else ""
    if len(lang008) == 3 and lang008.isalpha():
        language = lang008.lower()
    else:
        for df in other("041", _NO_FIELDS):
            for value in df.values("a"):
                if len(value.strip()) >= 3 and value.strip()[:3].isalpha():
                    language = value.strip()[:3].lower()
                    break
            if language is not None:
                break
    if ids is None:
        ids = extract(record)
    rtype = record.leader[6] if len(record.leader) > 6 else ""
    return {
        "title": _title(other("245", _NO_FIELDS)),
        "creators": _creators(other("creators", _NO_FIELDS)),
        "subjects": _subjects(other("subjects", _NO_FIELDS)),
        "publisher": _first(other("264", _NO_FIELDS), "b", "1") or _first(other("260", _NO_FIELDS), "b"),
        "year": year,
        "language": language,
        "type": RESOURCE_TYPES.get(rtype, "unknown"),
        "extent": _first(other("300", _NO_FIELDS), "a"),
        "edition": _first(other("250", _NO_FIELDS), "a"),
        "isbns": ids.isbns,
        "issns": ids.issns,
        "eans": ids.eans,
    }
