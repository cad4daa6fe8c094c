"""marc21_withholdings: a bibliographic record with its holdings embedded, as Libris exports it.

Per holding: an 841 (Holdings Coded Data Values) with $5 sigel, $a type of record (holdings
Leader/06), $b the holdings 008 and $e encoding level (Leader/17), followed by the holding's
data fields (852, 866, …), each with $5 sigel first. They are appended at the end of the stored
bibliographic record's text, so the bib itself is never re-parsed; only the small holdings
records are.
"""

from __future__ import annotations

import logging
import re

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from protocols.oai.xmltext import attr, clean, escape

log = logging.getLogger(__name__)

MARC_NS = "http://www.loc.gov/MARC21/slim"
_LEADER = f"{{{MARC_NS}}}leader"
_CONTROL = f"{{{MARC_NS}}}controlfield"
_DATA = f"{{{MARC_NS}}}datafield"
_SUB = f"{{{MARC_NS}}}subfield"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_INDICATOR = re.compile(r"[\da-z ]\Z")
_END = "</record>"


def _ind(value: str | None) -> str:
    return value if value is not None and _INDICATOR.match(value) else " "


def _datafield(tag: str, ind1: str, ind2: str, subfields: list[tuple[str, str]]) -> str:
    subs = "".join(f'<subfield code="{attr(c)}">{escape(v)}</subfield>' for c, v in subfields)
    return f'<datafield tag="{attr(tag)}" ind1="{ind1}" ind2="{ind2}">{subs}</datafield>'


def holding_fields(sigel: str, marcxml: str) -> str:
    """The fields one holdings record contributes to its bibliographic record."""
    root = etree.fromstring(clean(marcxml).encode("utf-8"), _PARSER)
    leader = root.findtext(_LEADER) or ""
    f008 = next((cf.text or "" for cf in root.iter(_CONTROL) if cf.get("tag") == "008"), None)
    coded = [("5", sigel)]
    if len(leader) > 6:
        coded.append(("a", leader[6]))
    if f008 is not None:
        coded.append(("b", f008))
    if len(leader) > 17:
        coded.append(("e", leader[17]))
    out = [_datafield("841", " ", " ", coded)]
    for df in root.iter(_DATA):
        subs = [("5", sigel)]
        subs += [(sf.get("code") or " ", sf.text or "") for sf in df.iter(_SUB)]
        out.append(_datafield(df.get("tag") or "", _ind(df.get("ind1")), _ind(df.get("ind2")), subs))
    return "".join(out)


def embed(bib: str, holdings: list[tuple[str, str]]) -> str:
    """`bib` (a cleaned MARCXML record fragment) with the holdings' fields appended."""
    parts = []
    for sigel, marcxml in holdings:
        try:
            parts.append(holding_fields(sigel, marcxml))
        except etree.XMLSyntaxError:
            log.warning("holdings record of %s is not well-formed; not embedded", sigel)
    if not parts:
        return bib
    end = bib.rfind(_END)
    if end >= 0:
        return bib[:end] + "".join(parts) + bib[end:]
    # A record with a namespace prefix: place the fields through a parse (rare, not the hot path).
    root = etree.fromstring(bib.encode("utf-8"), _PARSER)
    wrapper = etree.fromstring(f'<record xmlns="{MARC_NS}">{"".join(parts)}</record>'.encode(), _PARSER)
    for child in list(wrapper):
        root.append(child)
    return str(etree.tostring(root, encoding="unicode"))
