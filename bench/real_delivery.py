"""A delivery made of real records: the Library of Congress and Libris records in ../shared/testdata.

The source records (the LoC sample and its records with bad ISBNs, the Libris batch-import
bibliographic records) are repeated in turn until `count` are made, each followed by a holding
for one of the benchmark's libraries (Libris's holdings template, as suppliers send it). Each
copy gets identifiers of its own so every one is a new record, as in a supplier's file of new
titles: 001 is R<n>, every valid ISBN (020, and 024 EANs that are ISBNs) becomes a different
valid ISBN of the same form (ISBN-10 stays ISBN-10, hyphens and qualifiers stay), ISSNs likewise,
and 035 $a gets -<n> appended. Invalid identifiers are left as they are (the warnings a real
delivery brings). Everything else — field order, prefixes, whitespace, characters — is the
source's own. Deterministic; no shared test data is changed or copied into the project.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from lxml import etree

from protocols.marc import identifiers

TESTDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata"
NS = "http://www.loc.gov/MARC21/slim"
_C = "{" + NS + "}"
_ISBN = re.compile(r"[0-9][0-9Xx\- ]{8,16}[0-9Xx]")
_ISSN = re.compile(r"[0-9]{4}-?[0-9]{3}[0-9Xx]")


def _sources() -> list[etree._Element]:
    files = [TESTDATA / "marc" / "sample1a.xml", TESTDATA / "marc" / "badisbns.xml",
             *sorted((TESTDATA / "libris-batchimport").glob("batch*.xml"))]
    out = []
    for path in files:
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
        for rec in root.iter(_C + "record"):
            leader = rec.findtext(_C + "leader") or ""
            if leader[6:7] not in ("u", "v", "x", "y"):  # their own holdings are replaced by ours
                out.append(rec)
    if not out:
        raise SystemExit(f"no records found in {TESTDATA}")
    return out


def _isbn10_check(body: str) -> str:
    c = sum(i * int(d) for i, d in enumerate(body, 1)) % 11
    return "X" if c == 10 else str(c)


def _new_isbn(old: str, serial: int) -> str:
    """A different valid ISBN in the same form as `old` (its separators kept)."""
    digits = [c for c in old if c.isalnum()]
    if len(digits) == 13:
        body = "978" + f"{serial % 10**9:09d}"
        body += str((10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body)) % 10) % 10)
    else:
        body = f"{serial % 10**9:09d}"
        body += _isbn10_check(body)
    it = iter(body)
    return "".join(next(it) if c.isalnum() else c for c in old)


def _new_issn(serial: int) -> str:
    body = f"{serial % 10**7:07d}"
    c = (11 - sum(int(d) * w for d, w in zip(body, range(8, 1, -1), strict=True)) % 11) % 11
    return f"{body[:4]}-{body[4:]}{'X' if c == 10 else c}"


def _renumber(rec: etree._Element, n: int) -> etree._Element:
    rec = copy.deepcopy(rec)
    serial = n * 4
    for cf in rec.iterchildren(_C + "controlfield"):
        if cf.get("tag") == "001":
            cf.text = f"R{n}"
    for df in rec.iterchildren(_C + "datafield"):
        tag = df.get("tag")
        for sf in df.iterchildren(_C + "subfield"):
            code, text = sf.get("code"), sf.text or ""
            if tag == "020" and code in ("a", "z") and (m := _ISBN.search(text)):
                if identifiers.normalize_isbn(m.group())[0] is not None:
                    serial += 1
                    sf.text = text[:m.start()] + _new_isbn(m.group(), serial) + text[m.end():]
            elif tag == "024" and df.get("ind1") == "3" and code == "a":
                serial += 1
                sf.text = _new_isbn("9780000000000", serial) if text.startswith(("978", "979")) else text
            elif tag == "022" and code in ("a", "z") and _ISSN.search(text):
                serial += 1
                sf.text = _new_issn(serial)
            elif tag == "035" and code == "a":
                sf.text = f"{text}-{n}"
    return rec


def _holding(sigel: str) -> str:
    return (f'<record xmlns="{NS}" type="Holdings"><leader>XXXXXax  a22XXXXX1n 4500</leader>'
            '<controlfield tag="008">170714||0000|||||000||||||000000</controlfield>'
            f'<datafield tag="852" ind1="" ind2=""><subfield code="b">{sigel}</subfield></datafield></record>')


def delivery_chunks(count: int, sigels: Sequence[str], *, start: int = 0, per_chunk: int = 500) -> Iterator[bytes]:
    """`count` real bibliographic records, each with a holding, as a MARCXML collection in pieces."""
    sources = _sources()
    yield f'<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns="{NS}">\n'.encode()
    buf: list[str] = []
    for i in range(count):
        n = start + i
        rec = _renumber(sources[n % len(sources)], n)
        buf.append(etree.tostring(rec, encoding="unicode") + _holding(sigels[i % len(sigels)]))
        if len(buf) >= per_chunk:
            yield "\n".join(buf).encode()
            buf = []
    if buf:
        yield "\n".join(buf).encode()
    yield b"\n</collection>\n"


def delivery(count: int, sigels: Sequence[str], *, start: int = 0) -> bytes:
    return b"".join(delivery_chunks(count, sigels, start=start))
