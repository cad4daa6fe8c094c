"""Year and time terms: the span a value names, and the range clause a relation makes of it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from protocols.sru import diagnostics as d
from protocols.sru.indexes import EXACT, Index
from protocols.sru.nodes import RangeClause

_YEAR = re.compile(r"^(\d{1,4})(?:-\d\d(?:-\d\d)?)?$")


def year_interval(text: str, index: Index) -> tuple[int, int]:
    """The years a value names, as [year, year + 1)."""
    m = _YEAR.match(text)
    if not m:
        raise d.InvalidTermFormat(f"{index.qualified} wants a year (YYYY), not {text!r}")
    year = int(m.group(1))
    return year, year + 1


_DATETIME = re.compile(
    r"^(\d{4})(?:-(\d\d)(?:-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?)?)?$"
)


def time_interval(text: str, index: Index) -> tuple[datetime, datetime]:
    """The span of time an ISO 8601 value names, at its precision (UTC unless an offset)."""
    m = _DATETIME.match(text)
    if not m:
        raise d.InvalidTermFormat(f"{index.qualified} wants an ISO 8601 date or time, not {text!r}")
    year, month, day, hour, minute, second, zone = m.groups()
    try:
        if month is None:
            start = datetime(int(year), 1, 1, tzinfo=UTC)
            return start, start.replace(year=start.year + 1)
        if day is None:
            start = datetime(int(year), int(month), 1, tzinfo=UTC)
            following = (start + timedelta(days=32)).replace(day=1)
            return start, following
        if hour is None:
            start = datetime(int(year), int(month), int(day), tzinfo=UTC)
            return start, start + timedelta(days=1)
        stamp = f"{year}-{month}-{day}T{hour}:{minute}:{second or '00'}{_zone(zone)}"
        start = datetime.fromisoformat(stamp).astimezone(UTC)
        return start, start + (timedelta(seconds=1) if second else timedelta(minutes=1))
    except (ValueError, OverflowError) as e:
        raise d.InvalidTermFormat(f"{text!r}: {e}") from e


def _zone(zone: str | None) -> str:
    if zone is None or zone == "Z":
        return "+00:00"
    return zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"


def range_clause(
    index: Index, relation: str, term: str,
    interval: Callable[[str, Index], tuple[int, int] | tuple[datetime, datetime]], within_help: str,
) -> RangeClause:
    """The clause for a year or time term: ``within`` spans from its first value's start to
    its second value's end; any other relation compares with the span the value names."""
    text = term.strip()
    if relation == "within":
        parts = text.split()
        if len(parts) != 2:
            raise d.InvalidTermFormat(within_help)
        return RangeClause(index, interval(parts[0], index)[0], interval(parts[1], index)[1])
    start, end = interval(text, index)
    return _range(index, relation, start, end)


def _range(index: Index, relation: str, start: int | datetime, end: int | datetime) -> RangeClause:
    """The clause for ``relation`` against a value that covers [start, end)."""
    if relation in ("=", EXACT):
        return RangeClause(index, start, end)
    if relation == "<>":
        return RangeClause(index, start, end, negate=True)
    if relation == "<":
        return RangeClause(index, None, start)
    if relation == "<=":
        return RangeClause(index, None, end)
    if relation == ">":
        return RangeClause(index, end, None)
    if relation == ">=":
        return RangeClause(index, start, None)
    raise d.UnsupportedRelation(f"{relation} on {index.qualified}")
