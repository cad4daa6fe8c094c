"""What the OAI server needs from storage (implemented with SQL in gateway.oai)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from protocols.oai.tokens import Position

BIB = "bib"
HOLD = "hold"
#: Sort rank of each kind at equal datestamps (part of the keyset).
KIND_RANK = {BIB: 0, HOLD: 1}


class Payload(Enum):
    """What a list or record needs besides the header."""

    NONE = "none"  # headers only
    MARCXML = "marcxml"  # the stored record
    WITH_HOLDINGS = "withholdings"  # the stored bib record and its holdings records
    SUMMARY = "summary"  # the pre-extracted summary (bib_records.summary)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which items a list covers.

    kind "all": bibliographic and holdings records; "bib" with `sigel`: the bibs on which that
    library has (or had) a holding, dated by the holding's set datestamp; "hold" with `sigel`:
    that library's holdings; "bib" with `supplier`: the bibs that supplier delivered.
    """

    kind: str  # "all" | BIB | HOLD
    sigel: str | None = None
    supplier: str | None = None


@dataclass(slots=True)
class Item:
    kind: str  # BIB | HOLD
    id: int
    datestamp: datetime  # full precision (part of the keyset)
    deleted: bool
    sigels: list[str] = field(default_factory=list)  # bib: libraries with live holdings; hold: its own
    suppliers: list[str] = field(default_factory=list)  # bib: supplier codes that delivered it
    marcxml: str | None = None
    #: False only when storage vouches that `marcxml` embeds as it is (see xmltext.fragment).
    marcxml_unsafe: bool = True
    summary: dict[str, Any] | None = None
    #: (sigel, holdings MARCXML) of the holdings to embed (Payload.WITH_HOLDINGS).
    holdings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def position(self) -> Position:
        return Position(self.datestamp, KIND_RANK[self.kind], self.id)


LIBRARY = "library"
SUPPLIER = "supplier"


@dataclass(frozen=True, slots=True)
class SetInfo:
    """A library (sets bib:SIGEL and hold:SIGEL) or a supplier (set supplier:CODE).

    Set order: libraries by sigel, then suppliers by code, each in the storage's own order of
    codes (the server never compares codes itself, so keyset paging follows that order)."""

    kind: str  # LIBRARY | SUPPLIER
    code: str  # sigel or supplier code
    name: str


class Repository(Protocol):
    async def earliest_datestamp(self) -> datetime | None:
        """The earliest datestamp of any item (None when there are none)."""

    async def horizon(self) -> datetime:
        """An instant such that every item with an earlier datestamp that will ever be stored is
        already visible to every read that starts after this call returns."""

    async def list_sets(self, after: tuple[str, str] | None, limit: int, *, inclusive: bool = False) -> list[SetInfo]:
        """At most `limit` libraries and suppliers in set order, after (kind, code), or from it on
        when `inclusive`; from the first when `after` is None."""

    async def count_sets(self) -> tuple[int, int]:
        """(libraries, suppliers)."""

    async def get_item(self, kind: str, id: int, payload: Payload) -> Item | None: ...

    def list_items(
        self,
        scope: Scope,
        payload: Payload,
        lower: datetime | None,
        upper: datetime,
        after: Position | None,
        limit: int,
    ) -> AsyncGenerator[list[Item], None]:
        """At most `limit` items with lower <= datestamp < upper, after `after`, in (datestamp,
        kind, id) order, in batches (an async generator: close it when stopping early)."""

    async def count_items(self, scope: Scope, lower: datetime | None, upper: datetime) -> int: ...
