"""The intake's MARCXML scan: well-formed, a MARCXML root, no DTD; records counted.

It answers as protocols.marc.xmlreader would (the same faults, codes, lines and columns, the same
count: elements named `record`, in any namespace) but builds no tree, where a tree costs most:

* well-formedness and the encoding: the same hardened libxml2 parser as the reader's (nothing
  fetched, no entity expanded, no DTD loaded, the default size limits), with a parser target
  that has nothing to do, so no element, text or callback is made in Python;
* the root: a pull parser is fed only the first bytes, until the root element starts, and its
  root and document type are checked as the reader checks them (the prolog guard refuses a
  DOCTYPE before any parser sees it, this is the second line of defence);
* the count: the `record` start tags in the bytes. In a well-formed document a `<` outside
  comments, CDATA sections and processing instructions always begins markup, so every
  `<record` or `<prefix:record` followed by a blank, `/` or `>` outside those three is an
  element named record; the scan steps over the three (across chunk boundaries as well). It
  counts only what the parser accepts: a document that is not well-formed fails there.

This needs a document whose markup is ASCII bytes (UTF-8, Latin-1 and the like). Anything else
— a UTF-16 or UTF-32 body, a byte-order mark other than UTF-8's, a declared encoding that is not
ASCII-compatible, a first byte that is not markup — is scanned the reader's way, with a tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from .xmlreader import _check_root, _PrologGuard, _Stream, _syntax_fault

#: What is looked at before choosing how to scan (the XML declaration fits in it).
_HEAD = 256
_UTF8_BOM = b"\xef\xbb\xbf"
_DECLARED = re.compile(rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ASCII_COMPATIBLE = ("utf-8", "utf8", "us-ascii", "ascii", "iso-8859-", "iso8859-", "iso_8859-", "latin",
                     "windows-125", "cp125")
#: `record` start tags, and the three constructs whose text may hold anything (group 1-3).
_MARK = re.compile(rb"""<(?:(!--)|(!\[CDATA\[)|(\?)|(?:[^\s<>/:!?="']+:)?record[\s/>])""")
_CLOSERS = {1: b"-->", 2: b"]]>", 3: b"?>"}
#: What ends a name after `<`: until it is seen, a mark may be cut off at the end of a chunk.
_NAME_END = re.compile(rb"[\s/>]")
#: Longer than libxml2 lets a name be (50,000 characters) without huge_tree.
_LONGEST_NAME = 4 * 50_000 + 16
#: The root is looked for in slices of this size (a pull parser builds a tree of what it is fed).
_ROOT_SLICE = 4096


def _ascii_markup(head: bytes) -> bool:
    """May the document whose first bytes these are be scanned as bytes?"""
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM):]
    head = head.lstrip(b" \t\r\n")
    if not head.startswith(b"<") or b"\x00" in head:
        return False
    if head.startswith(b"<?xml"):
        if b"?>" not in head:
            return False  # a declaration longer than the head: the careful way
        declared = _DECLARED.match(head)
        if declared is not None and not declared.group(1).decode().lower().startswith(_ASCII_COMPATIBLE):
            return False
    return True


class _Idle:
    """A parser target with nothing to do: libxml2 checks the document and calls nothing."""

    def close(self) -> None:
        return None


class _Counter:
    """Counts `record` start tags across chunks, stepping over comments, CDATA sections and
    processing instructions."""

    def __init__(self) -> None:
        self.count = 0
        self._carry = b""
        self._closer: bytes | None = None  # inside one of the three until this

    def feed(self, data: bytes, final: bool = False) -> None:
        buf = self._carry + data if self._carry else data
        self._carry = b""
        pos, end, count = 0, len(buf), 0
        while pos < end:
            closer = self._closer
            if closer is not None:
                found = buf.find(closer, pos)
                if found < 0:  # keep what could be the start of the closer
                    self._carry = b"" if final else buf[max(pos, end - len(closer) + 1):]
                    break
                pos, self._closer = found + len(closer), None
                continue
            limit = end
            if not final:
                last = buf.rfind(b"<", pos)
                if last >= 0 and _undecided(buf, last, end):
                    limit = last  # a mark may be cut off there: it waits for the next chunk
            for mark in _MARK.finditer(buf, pos, limit):
                opened = mark.lastindex
                if opened is None:
                    count += 1
                else:
                    self._closer, pos = _CLOSERS[opened], mark.end()
                    break
            else:
                self._carry = buf[limit:]
                break
        self.count += count


def _undecided(buf: bytes, at: int, end: int) -> bool:
    """Could the markup that starts at buf[at] (a `<`) still turn out to be another mark than the
    bytes so far show? `<!--`, `<![CDATA[` and `<?` are known by their first nine bytes at most;
    a name when it ends, or once it is longer than any name the parser accepts (it refuses the
    document then, so what was counted does not matter, and nothing long is carried)."""
    tail = end - at
    if tail == 1 or buf[at + 1:at + 2] in (b"!", b"?"):
        return tail < 9
    return tail <= _LONGEST_NAME and _NAME_END.search(buf, at + 1) is None


class _ByteScan:
    """The scan without a tree (see the module docstring)."""

    def __init__(self) -> None:
        self._parser = etree.XMLParser(target=_Idle(), resolve_entities=False, no_network=True, load_dtd=False,
                                       huge_tree=False)
        self._root: etree.XMLPullParser | None = new_parser_for_root()
        self._counter = _Counter()

    @property
    def count(self) -> int:
        return self._counter.count

    def feed(self, data: bytes) -> None:
        try:
            self._parser.feed(data)
        except etree.XMLSyntaxError as exc:
            raise _syntax_fault(exc) from None
        if self._root is not None:
            self._find_root(data)
        self._counter.feed(data)

    def close(self) -> int:
        try:
            self._parser.close()
        except etree.XMLSyntaxError as exc:
            raise _syntax_fault(exc) from None
        root_parser, self._root = self._root, None
        if root_parser is not None:  # a short document: its root is known when its parser closes
            try:
                _check_root(root_parser.close())
            except etree.XMLSyntaxError as exc:
                raise _syntax_fault(exc) from None
        self._counter.feed(b"", final=True)
        return self._counter.count

    def _find_root(self, data: bytes) -> None:
        root_parser = self._root
        assert root_parser is not None
        for start in range(0, len(data), _ROOT_SLICE):
            try:
                root_parser.feed(data[start:start + _ROOT_SLICE])
                for _event, elem in root_parser.read_events():
                    _check_root(elem)
                    self._root = None  # checked: the rest of the document is the byte scan's
                    return
            except etree.XMLSyntaxError as exc:
                raise _syntax_fault(exc) from None


def new_parser_for_root() -> etree.XMLPullParser:
    """A pull parser hardened as the reader's, reporting where the root element starts."""
    return etree.XMLPullParser(events=("start",), resolve_entities=False, no_network=True, load_dtd=False,
                               huge_tree=False, remove_comments=True, remove_pis=True)


class _TreeScan:
    """The reader's way, with a tree: for documents whose markup is not ASCII bytes."""

    def __init__(self) -> None:
        self._stream = _Stream()
        self.count = 0

    def feed(self, data: bytes) -> None:
        for _ in self._stream.feed(data):
            self.count += 1

    def close(self) -> int:
        for _ in self._stream.close():
            self.count += 1
        return self.count


class MarcXmlScanner:
    """Cheap intake check while a body streams in: well-formed, MARCXML root, no DTD; counts records.

    `feed` raises XMLFault/XMLSyntaxFault as soon as the problem is seen; `close` returns the
    number of record elements. `count` is the number seen so far.
    """

    def __init__(self) -> None:
        self._guard = _PrologGuard()
        self._head = b""
        self._scan: _ByteScan | _TreeScan | None = None

    @property
    def count(self) -> int:
        return self._scan.count if self._scan is not None else 0

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._guard.feed(data)  # a DOCTYPE is refused on the first chunk that shows it
        if self._scan is None:
            self._head += data
            if len(self._head) < _HEAD:
                return
            data, self._head = self._head, b""
            self._scan = _ByteScan() if _ascii_markup(data) else _TreeScan()
        self._scan.feed(data)

    def close(self) -> int:
        if self._scan is None:
            data, self._head = self._head, b""
            self._scan = _ByteScan() if data and _ascii_markup(data) else _TreeScan()
            if data:
                self._scan.feed(data)
        return self._scan.close()


def scan_marcxml(chunks: Iterable[bytes]) -> int:
    scanner = MarcXmlScanner()
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.close()
