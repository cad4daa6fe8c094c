"""Which existing record an incoming bibliographic record belongs to, and whether it may replace it.

Pure decisions, no I/O: the loader looks the candidates up in bulk and asks here.

* Identifier types are tried in order — ISBN, ISSN, EAN/GTIN, then system numbers (035, and
  "(003)001", a bare 001 qualified by the supplier's code) — and the first type that finds
  candidates decides. The "supplier" identifier (supplier code and 001, whatever the 003) is
  not matched on: it only lets a later holding's 004 find the record (gateway.intake.loader).
* Only records of the same match class (Leader/06 and carrier, so print and electronic editions
  never meet) are candidates.
* With several candidates the oldest wins and the match is reported as ambiguous.
* Encoding-level precedence: an incoming 5 may replace a 5; an incoming 8, 3 or 7 may replace a
  5 or 8; full-level (blank), 1, 2, 4 and protected (cataloguer-upgraded) records are never replaced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

#: Identifier kinds by matching tier, in the order they are tried.
TIERS: tuple[tuple[str, ...], ...] = (("isbn",), ("issn",), ("ean",), ("sysno",))

_REPLACEABLE_BY: dict[str, frozenset[str]] = {
    "5": frozenset("5"),
    "8": frozenset("58"),
    "3": frozenset("58"),
    "7": frozenset("58"),
}


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    match_class: str
    encoding_level: str
    protected: bool
    created_at: datetime


def candidates(
    pairs: Iterable[tuple[str, str]],
    match_class: str,
    index: Mapping[tuple[str, str], Sequence[Candidate]],
) -> tuple[str | None, list[Candidate]]:
    """(deciding identifier kind, candidates oldest first); (None, []) when nothing matches."""
    pairs = list(pairs)
    for tier in TIERS:
        found: dict[int, Candidate] = {}
        for kind, value in pairs:
            if kind not in tier:
                continue
            for cand in index.get((kind, value), ()):
                if cand.match_class == match_class:
                    found[cand.id] = cand
        if found:
            return tier[0], sorted(found.values(), key=lambda c: (c.created_at, c.id))
    return None, []


def may_replace(incoming_level: str, existing: Candidate) -> bool:
    """May a record at `incoming_level` replace the existing one under the precedence rules?"""
    if existing.protected:
        return False
    allowed = _REPLACEABLE_BY.get(incoming_level)
    return allowed is not None and existing.encoding_level in allowed
