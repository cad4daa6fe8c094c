"""What a payload is, from its first bytes: gzip, ISO 2709 or MARCXML.

`forvarv deliver` chooses the content type from this, not from the file name; the intake uses
it to say, when a body fails as the declared type, which type it looks like.
"""

from __future__ import annotations

import zlib

GZIP_MAGIC = b"\x1f\x8b"
MARCXML = "application/marcxml+xml"
ISO2709 = "application/marc"
#: Enough for a leader, or for an XML declaration, a comment and the first element.
HEAD_SIZE = 4096


def is_gzip(head: bytes) -> bool:
    return head.startswith(GZIP_MAGIC)


def gunzip_head(head: bytes) -> bytes:
    """The first decompressed bytes of a gzip stream's beginning (as many as it yields)."""
    try:
        return zlib.decompressobj(wbits=31).decompress(head, HEAD_SIZE)
    except zlib.error:
        return b""


def looks_like_iso2709(head: bytes) -> bool:
    """A MARC leader: record length and base address of data in digits, "22" and "4500" where
    MARC 21 puts them (a supplier's leader may carry blanks instead of the last two)."""
    leader = head[:24]
    return (len(leader) == 24 and leader[:5].isdigit() and leader[12:17].isdigit()
            and (leader[10:12] == b"22" or leader[20:24] == b"4500"))


def looks_like_xml(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"<") or text.startswith(b"\xff\xfe<") or text.startswith(b"\xfe\xff\x00<")


def content_type(head: bytes) -> str | None:
    """MARCXML or ISO 2709 for a payload's (decompressed) first bytes; None if neither."""
    if looks_like_xml(head):
        return MARCXML
    if looks_like_iso2709(head):
        return ISO2709
    return None


def hint(head: bytes, declared: str) -> str:
    """A sentence to add when a body failed as `declared`: the type it looks like instead."""
    found = content_type(head)
    if found == ISO2709 and declared != ISO2709:
        return f"; the body looks like ISO 2709 (binary MARC 21): send it with Content-Type: {ISO2709}"
    if found == MARCXML and declared != MARCXML:
        return f"; the body looks like MARCXML: send it with Content-Type: {MARCXML}"
    return ""
