"""MARCXML and ISO 2709 serialisation of a Record.

`to_marcxml` is the intake hot path, so it builds strings directly (no element tree). Values are
escaped for XML, and characters XML 1.0 does not allow are dropped (C0 controls other than tab,
LF and CR) or replaced by U+FFFD (lone surrogates, U+FFFE, U+FFFF), so the output is always
well-formed whatever the Record holds. Validated records (see validate.check) never need this.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import chain

from protocols.xmlchars import C0_FORBIDDEN, FORBIDDEN, has_forbidden

from .record import Record

MARC_NS = "http://www.loc.gov/MARC21/slim"

#: What `to_marcxml` has to escape or clean in a Latin-1 text: markup characters and the C0
#: controls XML 1.0 forbids (the only such characters a Latin-1 text can hold).
_UNPLAIN = b'<>"&' + C0_FORBIDDEN


def _fix_illegal(match: re.Match[str]) -> str:
    return "" if match.group() < "\x20" else "\ufffd"


#: Does the text hold a character XML 1.0 does not allow (one `clean_xml_chars` would touch)?
has_illegal_chars = has_forbidden


def clean_xml_chars(value: str) -> str:
    """Remove or replace characters that XML 1.0 does not allow."""
    if value.isprintable():
        return value
    return FORBIDDEN.sub(_fix_illegal, value)


def escape(value: str) -> str:
    """Escape text or attribute content for XML, cleaning illegal characters first."""
    if not value.isprintable():
        value = FORBIDDEN.sub(_fix_illegal, value)
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
    head = f'<record xmlns="{MARC_NS}" type="{record.kind}">' if namespace else f'<record type="{record.kind}">'
    fast = _to_marcxml_plain(record, head)
    if fast is not None:
        return fast
    parts = [head, "<leader>", escape(record.leader), "</leader>"]
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


def _to_marcxml_plain(record: Record, head: str) -> str | None:
    """The serialisation when no text of the record needs cleaning and none needs escaping but
    for ampersands, else None.

    The record is written out unescaped and then the result is checked once, instead of every
    value on its own: the markup has a known number of <, > and " (two tags per element, two
    quotes per attribute) and no &, so equal counts mean no value holds any of them; and a
    result without characters XML does not allow holds none `escape` would drop or replace.
    Then every & of the result is in a value, and escaping the values comes down to replacing
    each & of the result by &amp; (ampersands are common in titles and publishers' names).
    """
    cfs, dfs = record.controlfields, record.datafields
    parts = [head, "<leader>", record.leader, "</leader>"]
    parts += [f'<controlfield tag="{cf.tag}">{cf.value}</controlfield>' for cf in cfs]
    append = parts.append
    for df in dfs:
        append(f'<datafield tag="{df.tag}" ind1="{df.ind1}" ind2="{df.ind2}">')
        for code, value in df.subfields:  # five pieces each: cheaper than formatting one string
            append('<subfield code="')
            append(code)
            append('">')
            append(value)
            append("</subfield>")
        append("</datafield>")
    append("</record>")
    out = "".join(parts)
    subfields = (len(parts) - 5 - len(cfs) - 2 * len(dfs)) // 5
    tags = 2 * (2 + len(cfs) + len(dfs) + subfields)
    quotes = head.count('"') + 2 * len(cfs) + 6 * len(dfs) + 2 * subfields
    try:
        raw = out.encode("latin-1")
    except UnicodeEncodeError:
        if (
            out.count("<") != tags
            or out.count(">") != tags
            or out.count('"') != quotes
            or FORBIDDEN.search(out) is not None
        ):
            return None
        return out.replace("&", "&amp;") if "&" in out else out
    # the usual Latin-1 text, in one pass: the markup holds exactly 2 * tags angle brackets and
    # `quotes` quotes and nothing else of _UNPLAIN, so anything more is in a value
    markup = 2 * tags + quotes
    unplain = len(raw) - len(raw.translate(None, _UNPLAIN))
    if unplain == markup:
        return out
    if unplain == markup + out.count("&"):  # nothing else to escape or clean
        return out.replace("&", "&amp;")
    return None


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


def utf8_len(value: str) -> int:
    """Length of the text in UTF-8 (without encoding it when it is ASCII)."""
    return len(value) if value.isascii() else len(value.encode("utf-8"))


def iso_lengths(record: Record) -> tuple[int, int, int]:
    """(record length, base address of data, longest field) of the record as UTF-8 ISO 2709."""
    total = 0
    longest = 0
    for cf in record.controlfields:
        n = utf8_len(cf.value) + 1
        total += n
        if n > longest:
            longest = n
    join = "".join
    for df in record.datafields:
        # indicators and terminator, a delimiter per subfield, then codes and values (UTF-8
        # lengths add up, so the joined text has the sum of their lengths)
        subfields = df.subfields
        n = 3 + len(subfields) + utf8_len(join(chain.from_iterable(subfields)))
        total += n
        if n > longest:
            longest = n
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
