"""A delivery's records between reading and writing: batches, and what holdings need of parents.

`Batches` takes prepared records (gateway.intake.prepare) in file order and groups them into batches of
a few hundred for gateway.intake.loader to write. It remembers every bibliographic record of the
delivery by position and by the supplier's 001, so a holding finds its parent: by 004 (also one
that comes later, resolved at the end), else the bibliographic record before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from gateway.intake.prepare import DoneBib, Prepared, PreparedBib, PreparedHolding, Template


def problem(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


@dataclass(slots=True)
class BibItem:
    """A bibliographic record of the batch: what gateway.intake.prepare found, then what writing decided."""

    prepared: PreparedBib
    # decided when written
    outcome: str = "rejected"
    record_id: int | None = None
    candidates: list[int] = field(default_factory=list)

    @property
    def position(self) -> int:
        return self.prepared.position

    @property
    def template(self) -> Template | None:
        """The MARCXML to store, None when the record is rejected."""
        return self.prepared.template


@dataclass(slots=True)
class HoldingItem:
    """A holdings record of the batch: what gateway.intake.prepare found, its parent, then what writing
    decided (errors and warnings start as the prepared ones; writing may add to them)."""

    prepared: PreparedHolding
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    #: the bibliographic record in this batch it belongs to, or the id of one already written
    parent_position: int | None = None
    parent_record: int | None = None
    outcome: str = "rejected"
    holding_id: int | None = None

    @property
    def position(self) -> int:
        return self.prepared.position

    @property
    def template(self) -> Template | None:
        """The MARCXML to store, None when the holding cannot be loaded (see errors)."""
        return self.prepared.template

    @property
    def own_id(self) -> str | None:
        return self.prepared.own_id

    @property
    def sigel(self) -> str | None:
        return self.prepared.sigel

    @property
    def ref(self) -> str | None:
        """Its 004."""
        return self.prepared.ref

    @property
    def delete(self) -> bool:
        return self.prepared.delete

    @property
    def unsafe(self) -> bool:
        """holdings.xml_unsafe of the stored text."""
        return self.prepared.unsafe


@dataclass(slots=True)
class ParentInfo:
    """What later holdings need to know about a bibliographic record of this delivery."""

    position: int
    record_id: int | None  # None while its batch is unwritten, or when it was rejected
    written: bool


class Batches:
    """Turns the stream of read records into batches; tracks parents across batches."""

    def __init__(self, done: dict[int, asyncpg.Record], batch_size: int) -> None:
        #: results an earlier attempt wrote, by position (gateway.intake.prepare leaves those records out,
        #: but for a DoneBib, which later holdings may still name)
        self.done = done
        self.batch_size = batch_size
        self.bibs: list[BibItem] = []
        self.holdings: list[HoldingItem] = []
        self.by_position: dict[int, ParentInfo] = {}
        self.by_own_id: dict[str, int] = {}  # the supplier's 001 of a bib in this delivery -> position
        self.last_bib: int | None = None
        #: holdings whose 004 names nothing seen so far: resolved at the end
        self.forward: list[HoldingItem] = []

    # --- intake of prepared records -------------------------------------------------------------
    def add(self, item: Prepared) -> None:
        if isinstance(item, PreparedHolding):
            self._add_holding(item)
        else:
            self._add_bib(item)

    def _add_bib(self, prepared: PreparedBib | DoneBib) -> None:
        pos, own_id = prepared.position, prepared.own_id
        self.last_bib = pos
        if own_id:
            self.by_own_id.setdefault(own_id, pos)
        if isinstance(prepared, DoneBib):
            prior = self.done.get(pos)
            self.by_position[pos] = ParentInfo(pos, prior["record_id"] if prior is not None else None, written=True)
            return
        self.by_position[pos] = ParentInfo(pos, None, written=False)
        self.bibs.append(BibItem(prepared))

    def _add_holding(self, prepared: PreparedHolding) -> None:
        item = HoldingItem(prepared, errors=prepared.errors, warnings=prepared.warnings)
        ref = item.ref
        if ref is not None:
            target = self.by_own_id.get(ref)
            if target is None:
                self.forward.append(item)
                item.warnings.append(problem("HOLDING_FORWARD_REFERENCE",
                                             f"004 {ref} names no earlier record of this delivery"))
                return
        else:
            target = self.last_bib
            if target is None:
                item.errors.append(problem("HOLDING_NO_PARENT",
                                           "a holdings record without 004 came before any bibliographic record"))
        self._attach(item, target)
        self.holdings.append(item)

    def _attach(self, item: HoldingItem, target: int | None) -> None:
        if target is None:
            return
        info = self.by_position[target]
        item.parent_position = target
        if info.written:
            item.parent_record = info.record_id
            if info.record_id is None:
                item.errors.append(problem("HOLDING_PARENT_REJECTED",
                                           f"the bibliographic record at position {target} was rejected"))

    # --- batching ------------------------------------------------------------------------------
    def ready(self) -> bool:
        return len(self.bibs) + len(self.holdings) >= self.batch_size

    def take(self) -> tuple[list[BibItem], list[HoldingItem]]:
        bibs, holdings = self.bibs, self.holdings
        self.bibs, self.holdings = [], []
        return bibs, holdings

    def written(self, bibs: list[BibItem]) -> None:
        for b in bibs:
            self.by_position[b.position] = ParentInfo(b.position, b.record_id, written=True)

    def finish_forward(self) -> list[HoldingItem]:
        """Forward references: to a bib later in this delivery, else to an earlier delivery."""
        leftovers = []
        for item in self.forward:
            ref = (item.ref if item.template is not None else None) or ""
            target = self.by_own_id.get(ref)
            if target is not None:
                item.warnings = [w for w in item.warnings if w["code"] != "HOLDING_FORWARD_REFERENCE"]
                self._attach(item, target)
            leftovers.append(item)
        self.forward = []
        return leftovers
