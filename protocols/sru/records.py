"""Record schemas an SRU client can ask for, and writing a stored record in each.

* ``marcxml`` (``info:srw/schema/1/marcxml-v1.1``; also ``marc21``, ``MARC21-xml``): the
  stored MARCXML, spliced in verbatim.
* ``marcxml-holdings``: the same with the holdings embedded the way OAI-PMH's
  ``marc21_withholdings`` does it: per live holding an 841 with $5 sigel (and $a type of
  record, $b 008, $e encoding level of the holdings record), then the holding's data fields,
  each with $5 sigel.
* ``dc`` (``info:srw/schema/1/dc-v1.1``): simple Dublin Core from the stored summary.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from protocols.sru import diagnostics as d
from protocols.sru.xmltext import attribute, clean, text

log = logging.getLogger(__name__)

MARC_NS = "http://www.loc.gov/MARC21/slim"
DC_NS = "http://purl.org/dc/elements/1.1/"
SRW_DC_NS = "info:srw/schema/1/dc-schema"


@dataclass(frozen=True, slots=True)
class RecordSchema:
    name: str
    identifier: str
    title: str
    aliases: tuple[str, ...] = ()
    location: str | None = None
    #: Whether records need their holdings fetched.
    holdings: bool = False
    #: Whether records are written from their summary (else only the stored MARCXML is read).
    summary: bool = False


MARCXML = RecordSchema(
    "marcxml", "info:srw/schema/1/marcxml-v1.1", "MARC 21 XML",
    ("marc21", "MARC21-xml", "marcxml-v1.1", "http://www.loc.gov/MARC21/slim"),
    "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd",
)
MARCXML_HOLDINGS = RecordSchema(
    "marcxml-holdings", "https://forvarv.example.org/schema/marcxml-withholdings-1.0",
    "MARC 21 XML with holdings embedded (841/852 with $5 sigel)",
    ("marc21_withholdings", "marcxml_withholdings"),
    "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd",
    holdings=True,
)
DC = RecordSchema(
    "dc", "info:srw/schema/1/dc-v1.1", "Dublin Core", ("dc-v1.1", "oai_dc", "info:srw/schema/1/dc-schema"),
    "http://www.loc.gov/standards/sru/recordSchemas/dc-schema.xsd",
    summary=True,
)
SCHEMAS: tuple[RecordSchema, ...] = (MARCXML, MARCXML_HOLDINGS, DC)
DEFAULT_SCHEMA = MARCXML

_LOOKUP: dict[str, RecordSchema] = {}
for _schema in SCHEMAS:
    for _key in (_schema.name, _schema.identifier, *_schema.aliases):
        _LOOKUP[_key.lower()] = _schema


def find_schema(value: str | None) -> RecordSchema:
    """The schema named or identified by ``value`` (case-insensitive); the default for None."""
    if value is None or value == "":
        return DEFAULT_SCHEMA
    found = _LOOKUP.get(value.strip().lower())
    if found is None:
        raise d.UnknownSchema(value)
    return found


@dataclass(slots=True)
class StoredRecord:
    """What the backend hands over for one hit."""

    id: int
    marcxml: str
    summary: Mapping[str, Any]
    #: (sigel, holdings MARCXML) of live holdings; filled only when the schema needs them.
    holdings: Sequence[tuple[str, str]] = field(default_factory=list)


def render(schema: RecordSchema, record: StoredRecord) -> str:
    """The record as an XML fragment in ``schema``."""
    if schema is DC:
        return dublin_core(record.summary)
    marc = _fragment(record.marcxml)
    if schema.holdings and record.holdings:
        return embed_holdings(marc, record.holdings)
    return marc


def _fragment(marcxml: str) -> str:
    """Stored MARCXML without an XML declaration, if one slipped in."""
    value = marcxml.lstrip()
    if value.startswith("<?xml"):
        value = value[value.index("?>") + 2 :].lstrip()
    return value


# --- Dublin Core ------------------------------------------------------------------------------

def dublin_core(summary: Mapping[str, Any]) -> str:
    out = [f'<srw_dc:dc xmlns:srw_dc="{SRW_DC_NS}" xmlns:dc="{DC_NS}">']

    def add(element: str, value: object) -> None:
        if isinstance(value, str) and value.strip():
            out.append(f"<dc:{element}>{text(value.strip())}</dc:{element}>")

    add("title", summary.get("title"))
    for name in _strings(summary.get("creators")):
        add("creator", name)
    for subject in _strings(summary.get("subjects")):
        add("subject", subject)
    add("publisher", summary.get("publisher"))
    year = summary.get("year")
    add("date", str(year) if isinstance(year, int) else year)
    add("type", summary.get("type"))
    add("format", summary.get("extent"))
    for isbn in _strings(summary.get("isbns")):
        add("identifier", f"urn:isbn:{isbn}")
    for issn in _strings(summary.get("issns")):
        add("identifier", f"urn:issn:{issn}")
    for ean in _strings(summary.get("eans")):
        add("identifier", f"EAN {ean}")
    add("language", summary.get("language"))
    add("description", summary.get("edition"))
    out.append("</srw_dc:dc>")
    return "".join(out)


def _strings(value: object) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


# --- holdings -----------------------------------------------------------------------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_M = f"{{{MARC_NS}}}"
_INDICATORS = set("0123456789abcdefghijklmnopqrstuvwxyz ")


def _indicator(value: str | None) -> str:
    return value if value is not None and len(value) == 1 and value in _INDICATORS else " "


def _datafield(tag: str, ind1: str, ind2: str, subfields: Sequence[tuple[str, str]]) -> str:
    inner = "".join(
        f'<subfield code="{attribute(code)}">{text(value)}</subfield>' for code, value in subfields
    )
    return f'<datafield tag="{attribute(tag)}" ind1="{ind1}" ind2="{ind2}">{inner}</datafield>'


def holding_fields(sigel: str, marcxml: str) -> str:
    """841 $5 sigel (+ $a $b $e from the holdings record) and its data fields with $5."""
    root = etree.fromstring(clean(_fragment(marcxml)).encode("utf-8"), _PARSER)
    leader = root.findtext(f"{_M}leader") or ""
    coded: list[tuple[str, str]] = [("5", sigel)]
    if len(leader) > 6 and leader[6].isalpha():
        coded.append(("a", leader[6]))
    for control in root.iter(f"{_M}controlfield"):
        if control.get("tag") == "008" and control.text:
            coded.append(("b", control.text))
            break
    if len(leader) > 17 and leader[17] != "X":
        coded.append(("e", leader[17]))
    fields = [_datafield("841", " ", " ", coded)]
    for datafield in root.iter(f"{_M}datafield"):
        subfields = [("5", sigel)]
        subfields.extend(
            (sub.get("code") or "", sub.text or "")
            for sub in datafield.iter(f"{_M}subfield")
            if (sub.get("code") or "") != "5" and sub.get("code")
        )
        fields.append(_datafield(datafield.get("tag") or "", _indicator(datafield.get("ind1")),
                                 _indicator(datafield.get("ind2")), subfields))
    return "".join(fields)


def embed_holdings(marc: str, holdings: Sequence[tuple[str, str]]) -> str:
    """The bibliographic record text with every holding's fields added before ``</record>``."""
    added: list[str] = []
    for sigel, marcxml in holdings:
        try:
            added.append(holding_fields(sigel, marcxml))
        except etree.XMLSyntaxError:
            log.warning("holdings record for %s is not well-formed XML; left out", sigel)
    close = marc.rfind("</")
    if not added or close < 0:
        return marc
    fields = "".join(added)
    if not marc.startswith("</record>", close):
        # A prefixed record element: the added fields declare the MARC namespace themselves.
        fields = fields.replace("<datafield ", f'<datafield xmlns="{MARC_NS}" ')
    return marc[:close] + fields + marc[close:]
