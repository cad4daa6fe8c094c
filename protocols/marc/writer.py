"""MARCXML and ISO 2709 serialisation of a Record.

`to_marcxml` is the intake hot path, so it builds strings directly (no element tree). Values are
escaped for XML, and characters XML 1.0 does not allow are dropped (C0 controls other than tab,
LF and CR) or replaced by U+FFFD (lone surrogates, U+FFFE, U+FFFF), so the output is always
well-formed whatever the Record holds. Validated records (see validate.check) never need this.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .record import Record

MARC_NS = "http://www.loc.gov/MARC21/slim"

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _fix_illegal(match: re.Match[str]) -> str:
    return "" if match.group() < "\x20" else "\ufffd"


def clean_xml_chars(value: str) -> str:
    """Remove or replace characters that XML 1.0 does not allow."""
    if value.isprintable():
        return value
    return _ILLEGAL.sub(_fix_illegal, value)


def escape(value: str) -> str:
    """Escape text or attribute content for XML, cleaning illegal characters first."""
    if not value.isprintable():
        value = _ILLEGAL.sub(_fix_illegal, value)
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if '"' in value:
        value = value.replace('"', "&quot;")
    return value


def to_marcxml(record: Record, *, namespace: bool = True) -> str:
    """One `record` element (default namespace declared unless namespace=False), no XML declaration."""
    parts = [
        f'<record xmlns="{MARC_NS}" type="{record.kind}"><leader>'
        if namespace
        else f'<record type="{record.kind}"><leader>',
        escape(record.leader),
        "</leader>",
    ]
    append = parts.append
    for cf in record.controlfields:
        append(f'<controlfield tag="{escape(cf.tag)}">{escape(cf.value)}</controlfield>')
    for df in record.datafields:
        append(f'<datafield tag="{escape(df.tag)}" ind1="{escape(df.ind1)}" ind2="{escape(df.ind2)}">')
        for code, value in df.subfields:
            append(f'<subfield code="{escape(code)}">{escape(value)}</subfield>')
        append("</datafield>")
    append("</record>")
    return "".join(parts)


def collection(records: Iterable[Record]) -> str:
    """A MARCXML `collection` document element holding the records (no XML declaration)."""
    body = "".join(to_marcxml(r, namespace=False) for r in records)
    return f'<collection xmlns="{MARC_NS}">{body}</collection>'


# --- ISO 2709 -------------------------------------------------------------------------------
FT = b"\x1e"  # field terminator
RT = b"\x1d"  # record terminator
SF = b"\x1f"  # subfield delimiter


class IsoOverflow(ValueError):
    """The record or one of its fields is too long for ISO 2709."""


def _field_bytes(record: Record) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for cf in record.controlfields:
        out.append((cf.tag, cf.value.encode("utf-8") + FT))
    for df in record.datafields:
        chunks = [(df.ind1 or " ")[:1].encode("utf-8"), (df.ind2 or " ")[:1].encode("utf-8")]
        for code, value in df.subfields:
            chunks.append(SF + code.encode("utf-8") + value.encode("utf-8"))
        chunks.append(FT)
        out.append((df.tag, b"".join(chunks)))
    return out


def _utf8_len(value: str) -> int:
    return len(value) if value.isascii() else len(value.encode("utf-8"))


def iso_lengths(record: Record) -> tuple[int, int, int]:
    """(record length, base address of data, longest field) of the record as UTF-8 ISO 2709."""
    total = 0
    longest = 0
    for cf in record.controlfields:
        n = _utf8_len(cf.value) + 1
        total += n
        longest = max(longest, n)
    for df in record.datafields:
        n = 3 + sum(1 + _utf8_len(code) + _utf8_len(value) for code, value in df.subfields)
        total += n
        longest = max(longest, n)
    base = 24 + 12 * (len(record.controlfields) + len(record.datafields)) + 1
    return base + total + 1, base, longest


def to_iso2709(record: Record) -> bytes:
    """The record in ISO 2709 (MARC 21 transmission format), UTF-8, Leader/09 = 'a'.

    Leader lengths and base address are recomputed. Raises IsoOverflow when a field exceeds
    9999 bytes or the record 99999 bytes.
    """
    fields = _field_bytes(record)
    directory: list[bytes] = []
    offset = 0
    for tag, data in fields:
        if len(data) > 9999:
            raise IsoOverflow(f"field {tag} is {len(data)} bytes, ISO 2709 allows 9999")
        directory.append(f"{tag[:3]:>03}{len(data):04d}{offset:05d}".encode("ascii", "replace"))
        offset += len(data)
    base = 24 + 12 * len(fields) + 1
    length = base + offset + 1
    if length > 99999:
        raise IsoOverflow(f"record is {length} bytes, ISO 2709 allows 99999")
    leader = (record.leader + " " * 24)[:24]
    leader = f"{length:05d}{leader[5:9]}a{leader[10:12]}{base:05d}{leader[17:]}"
    return (
        leader.encode("ascii", "replace")
        + b"".join(directory)
        + FT
        + b"".join(data for _, data in fields)
        + RT
    )
