"""Small MARCXML documents for tests, written out field by field (no library shortcuts)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

NS = "http://www.loc.gov/MARC21/slim"


def bib(*, own_id: str | None = None, org: str | None = None, level: str = "8", rtype: str = "a",
        isbn: list[str] | tuple[str, ...] = (), issn: tuple[str, ...] = (), ean: tuple[str, ...] = (),
        sysno: tuple[str, ...] = (), title: str | None = "En bok", author: str | None = "Författare, Anna",
        f007: str | None = None, extra: str = "") -> str:
    parts = [f"<leader>00000c{rtype}m a2200000{level}i 4500</leader>"]
    if own_id:
        parts.append(f'<controlfield tag="001">{escape(own_id)}</controlfield>')
    if org:
        parts.append(f'<controlfield tag="003">{escape(org)}</controlfield>')
    if f007:
        parts.append(f'<controlfield tag="007">{escape(f007)}</controlfield>')
    parts.append('<controlfield tag="008">170327s2017    sw ||||j     |00| 0|swe d</controlfield>')
    for v in isbn:
        parts.append(f'<datafield tag="020" ind1=" " ind2=" "><subfield code="a">{escape(v)}</subfield></datafield>')
    for v in issn:
        parts.append(f'<datafield tag="022" ind1=" " ind2=" "><subfield code="a">{escape(v)}</subfield></datafield>')
    for v in ean:
        parts.append(f'<datafield tag="024" ind1="3" ind2=" "><subfield code="a">{escape(v)}</subfield></datafield>')
    for v in sysno:
        parts.append(f'<datafield tag="035" ind1=" " ind2=" "><subfield code="a">{escape(v)}</subfield></datafield>')
    if author:
        parts.append(f'<datafield tag="100" ind1="1" ind2=" "><subfield code="a">{escape(author)}</subfield>'
                     "</datafield>")
    if title is not None:
        parts.append(f'<datafield tag="245" ind1="1" ind2="0"><subfield code="a">{escape(title)}</subfield>'
                     "</datafield>")
    parts.append(extra)
    return '<record type="Bibliographic">' + "".join(parts) + "</record>"


def holding(sigel: str | None, *, status: str = "n", parent: str | None = None, own_id: str | None = None,
            call_number: str | None = None) -> str:
    parts = [f"<leader>XXXXX{status}x  a22XXXXX1n 4500</leader>"]
    if own_id:
        parts.append(f'<controlfield tag="001">{escape(own_id)}</controlfield>')
    if parent:
        parts.append(f'<controlfield tag="004">{escape(parent)}</controlfield>')
    parts.append('<controlfield tag="008">170714||0000|||||000||||||000000</controlfield>')
    subs = ""
    if sigel is not None:
        subs += f'<subfield code="b">{escape(sigel)}</subfield>'
    if call_number:
        subs += f'<subfield code="h">{escape(call_number)}</subfield>'
    if not subs:
        subs = '<subfield code="x">-</subfield>'
    parts.append(f'<datafield tag="852" ind1="" ind2="">{subs}</datafield>')
    return '<record type="Holdings">' + "".join(parts) + "</record>"


def collection(*records: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns={quoteattr(NS)}>'
            + "".join(records) + "</collection>").encode()
