"""Streaming ISO 2709 (MARC 21 transmission format) reader and intake scanner.

Records are framed on the record terminator 0x1D by this module, not by the length in the
leader, so one record with a wrong length cannot desynchronise the rest of the stream (the
length is repaired with the warning ``ISO_LENGTH_MISMATCH``). Each record is then decoded by
pymarc (the same `pymarc.Record` decoding its MARCReader uses) and converted to our Record.

Character sets (`encoding`):

* ``"auto"`` (default): Leader/09 'a' means UTF-8; anything else is MARC-8, which pymarc
  converts to Unicode.
* ``"utf-8"``: UTF-8 whatever Leader/09 says.
* ``"latin1"``: the sender declared ISO-8859-1 (e.g. a ``charset`` parameter); decoded as such
  whatever Leader/09 says.

Converted records always get Leader/09 = 'a' and NFC text. Any decoding failure of one record
(bad directory, invalid UTF-8 ...) becomes ``ISO_DECODE_ERROR`` for that record's position.
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from typing import Literal

import pymarc

from .problems import Problem
from .record import ControlField, DataField, Record
from .xmlreader import ReadResult

Encoding = Literal["auto", "utf-8", "marc8", "latin1"]

RT = 0x1D
_MAX_RECORD = 99999
_SKIP = b"\r\n\x1a \t\x00"  # separators some exporters put between records


class IsoFault(Exception):
    """The body is not ISO 2709 at all (fatal, code ``ISO_SYNTAX``)."""

    def __init__(self, message: str, position: int, offset: int):
        super().__init__(f"{message} (record {position}, byte {offset})")
        # an instance attribute: a class attribute of an exception is lost when mypyc compiles it
        self.code = "ISO_SYNTAX"
        self.message = message
        self.position = position
        self.offset = offset


class _Framer:
    """Splits a byte stream into records on 0x1D; remembers where each one started.

    Separators before a record are dropped, and a terminator with nothing but separators before
    it is no record at all.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._consumed = 0  # stream offset of _buf[0]

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        self._buf += data
        buf = self._buf
        start = 0
        while True:
            end = buf.find(RT, start)
            if end < 0:
                break
            chunk = bytes(buf[start : end + 1])
            stripped = chunk.lstrip(_SKIP)
            if len(stripped) > 1:  # more than the terminator
                yield self._consumed + start + (len(chunk) - len(stripped)), stripped
            start = end + 1
        if start:
            del buf[:start]
            self._consumed += start

    def head(self) -> bytes:
        """The first bytes of the pending (incomplete) record, separators skipped."""
        return bytes(self._buf[:64]).lstrip(_SKIP)

    def pending(self) -> bytes:
        return bytes(self._buf).strip(_SKIP)

    @property
    def pending_size(self) -> int:
        return len(self._buf)

    @property
    def offset(self) -> int:
        return self._consumed


def _nfc(value: str) -> str:
    return value if value.isascii() else unicodedata.normalize("NFC", value)


def _convert(rec: pymarc.Record) -> Record:
    leader = str(rec.leader)
    out = Record(leader[:9] + "a" + leader[10:])
    for f in rec.fields:
        if f.is_control_field():
            out.controlfields.append(ControlField(f.tag, _nfc(f.data or "")))
        else:
            ind1, ind2 = (f.indicators[0], f.indicators[1]) if f.indicators else (" ", " ")
            out.datafields.append(
                DataField(f.tag, ind1, ind2, [(sf.code, _nfc(sf.value)) for sf in f.subfields])
            )
    return out


def decode_record(raw: bytes, position: int, *, encoding: Encoding = "auto") -> ReadResult:
    """Decode one ISO 2709 record (ending in 0x1D) into a ReadResult."""
    problems: list[Problem] = []
    data = bytearray(raw)
    head = bytes(data[:5])
    if len(data) < 25:
        problems.append(Problem("ISO_DECODE_ERROR", f"record {position} is only {len(data)} bytes"))
        return ReadResult(position, None, problems)
    if not head.isdigit() or int(head) != len(data):
        problems.append(
            Problem(
                "ISO_LENGTH_MISMATCH",
                f"record {position}: leader says {head!r}, the record is {len(data)} bytes",
            )
        )
        data[:5] = b"%05d" % min(len(data), _MAX_RECORD)
    force_utf8 = False
    file_encoding = "iso8859-1"  # pymarc's name for "MARC-8, convert"
    if encoding == "utf-8":
        force_utf8 = True
    elif encoding == "latin1":
        data[9:10] = b" "  # pymarc only honours file_encoding when Leader/09 is not 'a'
        file_encoding = "latin-1"
    elif encoding == "marc8":
        data[9:10] = b" "
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = pymarc.Record(
                data=bytes(data),
                to_unicode=True,
                force_utf8=force_utf8,
                hide_utf8_warnings=True,
                utf8_handling="strict",
                file_encoding=file_encoding,
            )
        record = _convert(rec)
    except Exception as exc:  # pymarc raises many kinds; all mean "this record is unreadable"
        problems.append(
            Problem("ISO_DECODE_ERROR", f"record {position}: {type(exc).__name__}: {exc}".rstrip(": "))
        )
        return ReadResult(position, None, problems)
    return ReadResult(position, record, problems)


class IsoParser:
    """Push parser: `feed(chunk)` and `close()` return the records completed so far."""

    def __init__(self, *, encoding: Encoding = "auto") -> None:
        self.encoding: Encoding = encoding
        self._framer = _Framer()
        self.count = 0

    def feed(self, data: bytes) -> list[ReadResult]:
        out = []
        for _offset, raw in self._framer.feed(data):
            self.count += 1
            out.append(decode_record(raw, self.count, encoding=self.encoding))
        return out

    def close(self) -> list[ReadResult]:
        rest = self._framer.pending()
        if not rest:
            return []
        self.count += 1
        return [
            ReadResult(
                self.count,
                None,
                [Problem("ISO_DECODE_ERROR", f"record {self.count} is truncated (no record terminator)")],
            )
        ]


def read_iso2709(chunks: Iterable[bytes], *, encoding: Encoding = "auto") -> Iterator[ReadResult]:
    parser = IsoParser(encoding=encoding)
    for chunk in chunks:
        yield from parser.feed(chunk)
    yield from parser.close()


class IsoScanner:
    """Incremental intake check: counts records, raises IsoFault for a body that isn't ISO 2709.

    Fatal: a record whose first five bytes are not digits, a record shorter than a leader, a
    record with no field terminator, more than 99999 bytes without a record terminator, or
    data after the last terminator (truncated body). A length that is numeric but wrong is
    only counted in `length_mismatches` (the reader repairs it with a warning).
    """

    def __init__(self) -> None:
        self._framer = _Framer()
        self.count = 0
        self.length_mismatches = 0

    def _check(self, offset: int, raw: bytes) -> None:
        position = self.count + 1
        if len(raw) < 25 or b"\x1e" not in raw:
            raise IsoFault("record too short or without field terminator", position, offset)
        if not raw[:5].isdigit():
            raise IsoFault(f"leader length {raw[:5]!r} is not numeric", position, offset)
        if int(raw[:5]) != len(raw):
            self.length_mismatches += 1

    def feed(self, data: bytes) -> None:
        for offset, raw in self._framer.feed(data):
            self._check(offset, raw)
            self.count += 1
        position, offset = self.count + 1, self._framer.offset
        head = self._framer.head()
        if len(head) >= 5 and not head[:5].isdigit():
            raise IsoFault(f"leader length {head[:5]!r} is not numeric", position, offset)
        if self._framer.pending_size > _MAX_RECORD + 1024:
            raise IsoFault("more than 99999 bytes without a record terminator", position, offset)

    def close(self) -> int:
        if self._framer.pending():
            raise IsoFault(
                "data after the last record terminator (truncated?)", self.count + 1, self._framer.offset
            )
        return self.count


def scan_iso2709(chunks: Iterable[bytes]) -> int:
    scanner = IsoScanner()
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.close()
