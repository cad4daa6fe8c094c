"""The loader's per-batch candidate index (gateway.intake.write_bibs._CandidateIndex)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.intake.matching import Candidate
from gateway.intake.write_bibs import _CandidateIndex

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_replaced_record_is_replaced_under_every_identifier_it_is_listed_under() -> None:
    index = _CandidateIndex()
    old = Candidate(7, "am", "5", False, T0)
    other = Candidate(8, "am", "5", False, T0)
    index.append(("isbn", "9789150222319"), old)
    index.append(("isbn", "9789150222319"), other)
    index.append(("sysno", "(X)1"), old)
    new = Candidate(7, "am", "8", False, T0)
    index.replace(new)
    assert index.lists[("isbn", "9789150222319")] == [new, other]
    assert index.lists[("sysno", "(X)1")] == [new]


def test_add_lists_a_record_once_per_identifier_and_replace_finds_it_there() -> None:
    index = _CandidateIndex()
    first = Candidate(7, "am", "5", False, T0)
    index.add(("isbn", "1"), first)
    index.add(("isbn", "1"), Candidate(7, "am", "8", False, T0))  # already listed: kept as it is
    index.add(("ean", "2"), first)
    assert index.lists == {("isbn", "1"): [first], ("ean", "2"): [first]}
    newer = Candidate(7, "am", "3", False, T0)
    index.replace(newer)
    assert index.lists == {("isbn", "1"): [newer], ("ean", "2"): [newer]}
    index.replace(Candidate(99, "am", "3", False, T0))  # not listed anywhere: nothing changes
    assert index.lists == {("isbn", "1"): [newer], ("ean", "2"): [newer]}
