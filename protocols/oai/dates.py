"""UTC datestamps: `YYYY-MM-DDThh:mm:ssZ` out, day or seconds granularity in."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from protocols.oai.errors import BadArgument

DAY = "YYYY-MM-DD"
SECONDS = "YYYY-MM-DDThh:mm:ssZ"

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")


_FORMATTED: dict[float, str] = {}


def format_datestamp(dt: datetime) -> str:
    """Seconds granularity, no fraction; `dt` must be timezone-aware.

    Formatted once per second value: the records of a page mostly share a few datestamps
    (a loader transaction stamps all its records alike), and strftime is the costly part.
    """
    second = dt.timestamp() // 1
    text = _FORMATTED.get(second)
    if text is None:
        if len(_FORMATTED) >= 4096:
            _FORMATTED.clear()
        text = _FORMATTED[second] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    return text


@dataclass(frozen=True, slots=True)
class UTCDate:
    value: datetime
    granularity: str

    @property
    def start(self) -> datetime:
        """First instant the value covers (for `from`, inclusive)."""
        return self.value

    @property
    def end(self) -> datetime:
        """First instant after the value (for `until`: inclusive at its granularity)."""
        step = timedelta(days=1) if self.granularity == DAY else timedelta(seconds=1)
        try:
            return self.value + step
        except OverflowError:  # the last day of year 9999
            return datetime.max.replace(tzinfo=UTC)


def parse_date(name: str, text: str) -> UTCDate:
    """A `from`/`until` argument; badArgument for anything but the two granularities."""
    try:
        if _DAY.match(text):
            return UTCDate(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC), DAY)
        if _SECONDS.match(text):
            return UTCDate(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC), SECONDS)
    except ValueError:
        pass
    raise BadArgument(f"{name} is not a UTC date in the form {DAY} or {SECONDS}")


def parse_range(from_: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """(inclusive lower bound, exclusive upper bound) of a from/until pair."""
    lo = parse_date("from", from_) if from_ is not None else None
    hi = parse_date("until", until) if until is not None else None
    if lo is not None and hi is not None:
        if lo.granularity != hi.granularity:
            raise BadArgument("from and until must have the same granularity")
        if lo.value > hi.value:
            raise BadArgument("from is later than until")
    return (lo.start if lo else None, hi.end if hi else None)
