"""Metadata formats and how an item is disseminated in each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocols.oai import holdings
from protocols.oai.repository import BIB, HOLD, Item, Payload
from protocols.oai.xmltext import escape, fragment

MARC_NS = "http://www.loc.gov/MARC21/slim"
MARC_SCHEMA = "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"
DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"


def _stored(item: Item) -> str:
    text = item.marcxml or ""
    return fragment(text) if item.marcxml_unsafe else text


def _marc(item: Item) -> str:
    return _stored(item)


def _with_holdings(item: Item) -> str:
    return holdings.embed(_stored(item), item.holdings)


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)] if value != "" else []


def _dc(item: Item) -> str:
    s = item.summary or {}
    elements: list[tuple[str, str]] = []
    elements += [("title", t) for t in _texts(s.get("title"))]
    elements += [("creator", c) for c in _texts(s.get("creators"))]
    elements += [("subject", c) for c in _texts(s.get("subjects"))]
    elements += [("publisher", p) for p in _texts(s.get("publisher"))]
    elements += [("date", d) for d in _texts(s.get("year"))]
    elements += [("type", t) for t in _texts(s.get("type"))]
    elements += [("format", f) for f in _texts(s.get("extent"))]
    elements += [("identifier", f"urn:isbn:{i}") for i in _texts(s.get("isbns"))]
    elements += [("identifier", f"urn:issn:{i}") for i in _texts(s.get("issns"))]
    elements += [("identifier", f"EAN {i}") for i in _texts(s.get("eans"))]
    elements += [("language", lang) for lang in _texts(s.get("language"))]
    body = "".join(f"<dc:{name}>{escape(value)}</dc:{name}>" for name, value in elements)
    return (
        f'<oai_dc:dc xmlns:oai_dc="{DC_NS}" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{DC_NS} {DC_SCHEMA}">{body}</oai_dc:dc>'
    )


@dataclass(frozen=True, slots=True)
class MetadataFormat:
    prefix: str
    schema: str
    namespace: str
    kinds: frozenset[str]  # the item kinds that can be disseminated in it
    payload: Payload
    render: Callable[[Item], str]


_BOTH = frozenset({BIB, HOLD})
_BIBS = frozenset({BIB})

FORMATS: dict[str, MetadataFormat] = {
    f.prefix: f
    for f in (
        MetadataFormat("marc21", MARC_SCHEMA, MARC_NS, _BOTH, Payload.MARCXML, _marc),
        MetadataFormat("marcxml", MARC_SCHEMA, MARC_NS, _BOTH, Payload.MARCXML, _marc),
        MetadataFormat("marc21_withholdings", MARC_SCHEMA, MARC_NS, _BIBS, Payload.WITH_HOLDINGS, _with_holdings),
        MetadataFormat("oai_dc", DC_SCHEMA, DC_NS, _BIBS, Payload.SUMMARY, _dc),
    )
}
