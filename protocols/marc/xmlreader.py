"""Streaming MARCXML reader (the intake's scanner, protocols.marc.xmlscan, applies the same rules).

It runs incrementally over byte chunks (`feed`/`close`), on an lxml `XMLPullParser`
configured so nothing external is ever fetched and no entity is ever expanded:

* Accepted: root `collection` or `record` in the MARC 21 slim namespace, with or without a
  prefix; also the same elements in *no* namespace (read as MARC 21 slim, every record then
  carries the warning ``MARCXML_NO_NAMESPACE``). A root in any other namespace, or any other
  root element, is fatal (``MARCXML_FOREIGN_ROOT``).
* A DOCTYPE (internal subset, entity declarations, external DTD) is fatal
  (``XML_DTD_FORBIDDEN``). The prolog is sniffed before the parser sees it so this fails on the
  first chunk; the parser's own docinfo is checked again as a second line of defence.
* Not-well-formed XML, including bytes invalid in the document's encoding, raises
  `XMLSyntaxFault` with line and column: the whole body is rejected.
* A record that is well-formed XML but structurally unreadable as MARC (datafield without tag,
  subfield without code, no leader) gives a per-record error; the stream goes on.

Each record element is cleared, together with its already-processed preceding siblings, as soon
as it has been converted, so memory stays flat however large the document. Text is Unicode NFC.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from .problems import Problem
from .record import ControlField, DataField, Record

MARC_NS = "http://www.loc.gov/MARC21/slim"
_CLARK = "{" + MARC_NS + "}"

#: How many prolog bytes are sniffed for a DOCTYPE before leaving it to the parser's docinfo check.
_PROLOG_LIMIT = 65536


class XMLFault(Exception):
    """A fatal problem with the whole document; `code` is one of problems.CODES."""

    def __init__(self, code: str, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line is not None else ""
        return f"{self.code}: {self.message}{where}"


class XMLSyntaxFault(XMLFault):
    """The body is not well-formed XML (or not valid in its encoding)."""

    def __init__(self, message: str, line: int | None, column: int | None, code: str = "XML_SYNTAX"):
        super().__init__(code, message, line, column)


class ReadResult(NamedTuple):
    """One record of a stream: 1-based position, the record (None if unreadable), problems."""

    position: int
    record: Record | None
    problems: list[Problem]


def new_parser() -> etree.XMLPullParser:
    """The hardened pull parser shared by the reader and the scanner."""
    return etree.XMLPullParser(
        events=("end",),
        tag="{*}record",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


_POSITION_SUFFIX = re.compile(r",? line \d+, column \d+$")


def _syntax_fault(exc: etree.XMLSyntaxError) -> XMLSyntaxFault:
    msg = _POSITION_SUFFIX.sub("", str(exc.msg or exc))
    line, column = exc.position if exc.position else (None, None)
    lowered = msg.lower()
    code = "XML_ENCODING" if ("encoding" in lowered or "utf-8" in lowered) else "XML_SYNTAX"
    return XMLSyntaxFault(msg, line, column, code)


class _PrologGuard:
    """Refuses any markup declaration (`<!DOCTYPE`, `<!ENTITY` ...) before the root element."""

    def __init__(self) -> None:
        self.done = False
        self._buf = b""

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        self._buf += data.replace(b"\x00", b"")  # crude but enough to sniff UTF-16 as ASCII
        buf = self._buf
        for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
            if buf.startswith(bom):
                buf = buf[len(bom) :]
                break
        i, n = 0, len(buf)
        while True:
            while i < n and buf[i] in b" \t\r\n":
                i += 1
            if n - i < 4:
                break  # need more bytes
            if buf.startswith(b"<?", i):
                end = buf.find(b"?>", i + 2)
                if end < 0:
                    break
                i = end + 2
            elif buf.startswith(b"<!--", i):
                end = buf.find(b"-->", i + 4)
                if end < 0:
                    break
                i = end + 3
            elif buf.startswith(b"<!", i):
                line = buf.count(b"\n", 0, i) + 1
                column = i - (buf.rfind(b"\n", 0, i) + 1) + 1
                raise XMLFault(
                    "XML_DTD_FORBIDDEN", "DOCTYPE and entity declarations are not accepted", line, column
                )
            else:
                self.done = True  # root element (or not XML at all: the parser will say)
                self._buf = b""
                return
        if len(self._buf) > _PROLOG_LIMIT:
            self.done = True
            self._buf = b""


def _check_root(root: etree._Element) -> None:
    doctype = root.getroottree().docinfo.doctype
    if doctype:
        raise XMLFault("XML_DTD_FORBIDDEN", "DOCTYPE and entity declarations are not accepted")
    tag = root.tag
    if tag not in (_CLARK + "collection", _CLARK + "record", "collection", "record"):
        raise XMLFault(
            "MARCXML_FOREIGN_ROOT",
            f"root element {tag} is not a MARC 21 slim collection or record ({MARC_NS})",
            root.sourceline,
        )


class _Stream:
    """Shared incremental core: feeds the parser and hands out finished record elements."""

    def __init__(self) -> None:
        self._parser = new_parser()
        self._guard = _PrologGuard()
        self._root_checked = False

    def _events(self) -> Iterator[etree._Element]:
        try:
            for _event, elem in self._parser.read_events():
                if not self._root_checked:
                    root = elem
                    while (parent := root.getparent()) is not None:
                        root = parent
                    _check_root(root)
                    self._root_checked = True
                parent = elem.getparent()
                yield elem
                elem.clear(keep_tail=False)
                if parent is not None:
                    while elem.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as exc:
            raise _syntax_fault(exc) from None

    def _drain_then_raise(self, exc: etree.XMLSyntaxError) -> Iterator[etree._Element]:
        # records completed before the error are still handed out, then the fault is raised
        with contextlib.suppress(XMLFault):
            yield from self._events()
        raise _syntax_fault(exc) from None

    def feed(self, data: bytes) -> Iterator[etree._Element]:
        if not data:
            return iter(())
        self._guard.feed(data)
        try:
            self._parser.feed(data)
        except etree.XMLSyntaxError as exc:
            return self._drain_then_raise(exc)
        return self._events()

    def close(self) -> Iterator[etree._Element]:
        try:
            root = self._parser.close()
        except etree.XMLSyntaxError as exc:
            return self._drain_then_raise(exc)
        if not self._root_checked:
            _check_root(root)
            self._root_checked = True
        return self._events()


class _Names:
    __slots__ = ("controlfield", "datafield", "leader", "subfield")

    def __init__(self, prefix: str) -> None:
        self.leader = prefix + "leader"
        self.controlfield = prefix + "controlfield"
        self.datafield = prefix + "datafield"
        self.subfield = prefix + "subfield"


_NS_NAMES = _Names(_CLARK)
_NS_RECORD = _CLARK + "record"
_BARE_NAMES = _Names("")
_NORMALIZE = unicodedata.normalize


def _text(elem: etree._Element) -> str:
    text = elem.text if len(elem) == 0 else "".join(elem.itertext())
    if not text:
        return ""
    return text if text.isascii() else _NORMALIZE("NFC", text)


def _plain_record(elem: etree._Element, names: _Names) -> Record | None:
    """The record when it is plain MARCXML, else None (then `element_to_record` reads it the
    careful way and reports what it finds).

    Plain: every child of the record is one leader, a control field with a tag or a data field
    with a tag, every child of a data field a subfield with a code, and none of these has
    children of its own (no mixed content, no entity references). Then one walk over all the
    descendants (`iter`, a single C-level traversal) gives the same record as the careful
    reader's nested loops, at about four fifths of its cost: most delivered records are plain.
    Where the walk is is known by counting: a data field's children are the next `len(field)`
    elements of the walk, and a leaf has none (anything else is not plain).
    """
    subfield_tag, datafield_tag = names.subfield, names.datafield
    controlfield_tag, leader_tag = names.controlfield, names.leader
    normalize = _NORMALIZE
    leader: str | None = None
    controlfields: list[ControlField] = []
    datafields: list[DataField] = []
    subfields: list[tuple[str, str]] = []
    remaining = 0  # children of the last data field still to come in the walk
    walk = elem.iter()
    next(walk)  # the record itself
    for child in walk:
        ctag = child.tag
        if ctag == subfield_tag:
            if not remaining:
                return None
            remaining -= 1
            code = child.get("code")
            if code is None or len(child):
                return None
            text = child.text
            if not text:
                text = ""
            elif not text.isascii():
                text = normalize("NFC", text)
            subfields.append((code, text))
        elif remaining:  # not a subfield, in a data field
            return None
        elif ctag == datafield_tag:
            get = child.get
            ftag = get("tag")
            if ftag is None:
                return None
            subfields = []
            datafields.append(DataField(ftag, get("ind1", ""), get("ind2", ""), subfields))
            remaining = len(child)
        elif ctag == controlfield_tag:
            ftag = child.get("tag")
            if ftag is None or len(child):
                return None
            text = child.text
            if not text:
                text = ""
            elif not text.isascii():
                text = normalize("NFC", text)
            controlfields.append(ControlField(ftag, text))
        elif ctag == leader_tag:
            if leader is not None or len(child):
                return None
            text = child.text or ""
            leader = text if text.isascii() else normalize("NFC", text)
        else:
            return None
    if leader is None:
        return None
    return Record(leader, controlfields, datafields, elem.get("type"))


def element_to_record(elem: etree._Element, position: int, *, walk: bool = True) -> ReadResult:
    """Convert one MARCXML `record` element (any supported namespace) into a Record.

    This is the intake's hottest loop (one pass per record, a few hundred elements each): a
    plain record is read in one walk (`_plain_record`; walk=False skips it, for the tests that
    compare the two); anything else field by field below, which binds names locally, reads a
    leaf's text directly and asks for source lines only when a problem is reported.
    """
    problems: list[Problem] = []
    tag = elem.tag
    if tag == _NS_RECORD:
        names = _NS_NAMES
        plain = _plain_record(elem, names) if walk else None
        if plain is not None:
            return ReadResult(position, plain, problems)
    elif tag == "record":
        names = _BARE_NAMES
        problems.append(Problem("MARCXML_NO_NAMESPACE", f"record {position} has no namespace"))
    else:
        problems.append(Problem("MARCXML_FOREIGN_RECORD", f"record {position} is {tag}"))
        return ReadResult(position, None, problems)

    datafield_tag, controlfield_tag = names.datafield, names.controlfield
    leader_tag, subfield_tag = names.leader, names.subfield
    normalize = _NORMALIZE
    leader: str | None = None
    controlfields: list[ControlField] = []
    datafields: list[DataField] = []
    unreadable = False
    unknown: set[str] = set()
    for child in elem:
        ctag = child.tag
        if ctag == datafield_tag:
            get = child.get
            ftag = get("tag")
            if ftag is None:
                problems.append(Problem("MARCXML_NO_TAG", f"datafield without tag (line {child.sourceline})"))
                unreadable = True
                continue
            subfields: list[tuple[str, str]] = []
            append = subfields.append
            for sf in child:
                if sf.tag == subfield_tag:
                    code = sf.get("code")
                    if code is None:
                        problems.append(
                            Problem("MARCXML_NO_CODE", f"subfield without code (line {sf.sourceline})", ftag)
                        )
                        unreadable = True
                        continue
                    text = sf.text if len(sf) == 0 else "".join(sf.itertext())
                    if not text:
                        text = ""
                    elif not text.isascii():
                        text = normalize("NFC", text)
                    append((code, text))
                elif isinstance(sf.tag, str):
                    unknown.add(sf.tag)
            datafields.append(DataField(ftag, get("ind1", ""), get("ind2", ""), subfields))
        elif ctag == controlfield_tag:
            ftag = child.get("tag")
            if ftag is None:
                problems.append(
                    Problem("MARCXML_NO_TAG", f"controlfield without tag (line {child.sourceline})")
                )
                unreadable = True
                continue
            controlfields.append(ControlField(ftag, _text(child)))
        elif ctag == leader_tag:
            if leader is None:
                leader = _text(child)
            else:
                problems.append(Problem("MARCXML_MULTIPLE_LEADERS", f"record {position} has several leaders"))
        elif isinstance(ctag, str):
            unknown.add(ctag)
    if unknown:
        problems.append(
            Problem(
                "MARCXML_UNKNOWN_ELEMENT",
                f"ignored element(s) {', '.join(sorted(unknown))} (line {elem.sourceline})",
            )
        )
    if leader is None:
        problems.append(Problem("MARCXML_NO_LEADER", f"record {position} (line {elem.sourceline}) has no leader"))
        unreadable = True
    if unreadable or leader is None:
        return ReadResult(position, None, problems)
    type_attr = elem.get("type")
    return ReadResult(position, Record(leader, controlfields, datafields, type_attr), problems)


class MarcXmlParser:
    """Push parser: `feed(chunk)` and `close()` return the records completed so far."""

    def __init__(self) -> None:
        self._stream = _Stream()
        self.count = 0

    def _convert(self, elems: Iterator[etree._Element]) -> Iterator[ReadResult]:
        for elem in elems:
            self.count += 1
            yield element_to_record(elem, self.count)

    def iter_feed(self, data: bytes) -> Iterator[ReadResult]:
        """Like feed, lazily: records completed before a syntax error are yielded before it."""
        return self._convert(self._stream.feed(data))

    def iter_close(self) -> Iterator[ReadResult]:
        return self._convert(self._stream.close())

    def feed(self, data: bytes) -> list[ReadResult]:
        return list(self.iter_feed(data))

    def iter_elements(self, data: bytes | None) -> Iterator[tuple[int, etree._Element]]:
        """Like iter_feed (None: close), with the record elements unconverted and numbered as
        iter_feed numbers them, for a reader after one record of many: convert the one wanted with
        `element_to_record` before taking the next (each is cleared once passed)."""
        for elem in self._stream.close() if data is None else self._stream.feed(data):
            self.count += 1
            yield self.count, elem

    def close(self) -> list[ReadResult]:
        return list(self.iter_close())


def read_marcxml(chunks: Iterable[bytes]) -> Iterator[ReadResult]:
    """Read MARCXML from byte chunks, one ReadResult per record. Raises XMLFault (fatal)."""
    parser = MarcXmlParser()
    for chunk in chunks:
        yield from parser.iter_feed(chunk)
    yield from parser.iter_close()
