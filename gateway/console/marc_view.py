"""MARC records as cataloguers read them (tag, indicators, subfields), and the differences between
records shown side by side. Stored MARCXML is read with the intake's own reader (no entities, no
network)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from protocols.marc.record import Record
from protocols.marc.xmlreader import XMLFault, read_marcxml

#: Fields that differ between any two copies of a record by nature (ids, timestamps): never marked.
_IGNORED = frozenset({"001", "003", "005"})


@dataclass(slots=True)
class Row:
    tag: str
    ind1: str = ""
    ind2: str = ""
    value: str = ""  # control fields
    subfields: list[tuple[str, str]] = field(default_factory=list)
    differs: bool = False

    @property
    def key(self) -> tuple[object, ...]:
        return (self.tag, self.ind1, self.ind2, self.value, tuple(self.subfields))


@dataclass(slots=True)
class Shown:
    leader: str
    rows: list[Row]


def _blank(ind: str) -> str:
    return "#" if ind in ("", " ") else ind  # a blank indicator as cataloguing documentation writes it


def shown(record: Record) -> Shown:
    rows = [Row(cf.tag, value=cf.value) for cf in record.controlfields]
    rows += [Row(df.tag, _blank(df.ind1), _blank(df.ind2), subfields=list(df.subfields)) for df in record.datafields]
    rows.sort(key=lambda r: r.tag)
    return Shown(record.leader, rows)


def parse(marcxml: str) -> Shown | None:
    """The stored record for display; None if it cannot be read (the page then shows the XML as text)."""
    try:
        for result in read_marcxml([marcxml.encode("utf-8")]):
            if result.record is not None:
                return shown(result.record)
    except XMLFault:
        return None
    return None


def mark_differences(columns: Sequence[Shown | None]) -> None:
    """Mark each field that is not found, identical, in every other column."""
    present = [{r.key for r in c.rows} if c else set() for c in columns]
    for n, column in enumerate(columns):
        if column is None:
            continue
        others = [keys for m, keys in enumerate(present) if m != n]
        for row in column.rows:
            row.differs = row.tag not in _IGNORED and any(row.key not in keys for keys in others)
