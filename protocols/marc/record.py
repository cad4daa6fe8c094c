"""A small, fast in-memory MARC record.

pymarc's Record is a fine general tool, but the intake hot path builds, inspects and
re-serialises every record once; plain slotted dataclasses with tuples of subfields are
several times cheaper and are all the gateway needs. pymarc is still used to decode ISO 2709.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

BIBLIOGRAPHIC = "Bibliographic"
HOLDINGS = "Holdings"

#: Leader/06 values of MARC 21 holdings records.
HOLDINGS_TYPES = frozenset("uvxy")


@dataclass(slots=True)
class ControlField:
    tag: str
    value: str


@dataclass(slots=True)
class DataField:
    tag: str
    ind1: str = " "
    ind2: str = " "
    #: (code, value) pairs in record order.
    subfields: list[tuple[str, str]] = field(default_factory=list)

    def values(self, *codes: str) -> list[str]:
        """Values of the given subfield codes (all codes when none given), in order."""
        if not codes:
            return [v for _, v in self.subfields]
        return [v for c, v in self.subfields if c in codes]

    def first(self, code: str) -> str | None:
        for c, v in self.subfields:
            if c == code:
                return v
        return None


@dataclass(slots=True)
class Record:
    leader: str
    controlfields: list[ControlField] = field(default_factory=list)
    datafields: list[DataField] = field(default_factory=list)
    #: The MARCXML `type` attribute as sent (may be None); see `kind` for the decision.
    type_attr: str | None = None

    # --- classification -------------------------------------------------------------
    @property
    def is_holdings(self) -> bool:
        if len(self.leader) > 6 and self.leader[6] in HOLDINGS_TYPES:
            return True
        return self.type_attr == HOLDINGS

    @property
    def kind(self) -> str:
        return HOLDINGS if self.is_holdings else BIBLIOGRAPHIC

    # --- access ---------------------------------------------------------------------
    def control(self, tag: str) -> str | None:
        for cf in self.controlfields:
            if cf.tag == tag:
                return cf.value
        return None

    def set_control(self, tag: str, value: str) -> None:
        """Replace the first control field with this tag, or insert it in tag order."""
        for cf in self.controlfields:
            if cf.tag == tag:
                cf.value = value
                return
        new = ControlField(tag, value)
        for i, cf in enumerate(self.controlfields):
            if cf.tag > tag:
                self.controlfields.insert(i, new)
                return
        self.controlfields.append(new)

    def remove_control(self, tag: str) -> None:
        self.controlfields = [cf for cf in self.controlfields if cf.tag != tag]

    def fields(self, *tags: str) -> Iterator[DataField]:
        for df in self.datafields:
            if df.tag in tags:
                yield df

    def subfield_values(self, tag: str, *codes: str) -> list[str]:
        out: list[str] = []
        for df in self.datafields:
            if df.tag == tag:
                out.extend(df.values(*codes))
        return out

    def add_datafield(self, new: DataField) -> None:
        """Insert a data field after the last field with a tag <= its own (keeps tag order)."""
        pos = len(self.datafields)
        for i, df in enumerate(self.datafields):
            if df.tag > new.tag:
                pos = i
                break
        self.datafields.insert(pos, new)
