"""When each library last harvested: the OAI endpoint notes list requests for the sets bib:SIGEL
and hold:SIGEL (of a known library) in `oai_harvests`, at most once a minute per set and process,
so a harvest of many pages costs one small write. The console shows it on its overview."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import asyncpg

from gateway.store import queries

log = logging.getLogger(__name__)

INTERVAL = 60.0
LIST_VERBS = frozenset({"ListRecords", "ListIdentifiers"})
SQL = queries.load("harvests")


class HarvestLog:
    def __init__(self, pool: asyncpg.Pool, interval: float = INTERVAL) -> None:
        self.pool = pool
        self.interval = interval
        self._last: dict[str, float] = {}

    @staticmethod
    def library_set(pairs: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
        """(set spec, sigel) of a list request for a library's set, else None."""
        args = dict(pairs)
        spec = args.get("set", "")
        if args.get("verb") not in LIST_VERBS or len(spec) > 40:
            return None
        kind, _, sigel = spec.partition(":")
        return (spec, sigel) if kind in ("bib", "hold") and sigel else None

    async def note(self, pairs: Sequence[tuple[str, str]]) -> None:
        found = self.library_set(pairs)
        if found is None:
            return
        spec, sigel = found
        now = time.monotonic()
        if now - self._last.get(spec, -self.interval) < self.interval:
            return
        self._last[spec] = now
        if "\x00" in spec:
            return
        try:
            async with self.pool.acquire() as conn:
                await conn.execute(SQL["harvest_record"], spec, sigel)
        except (asyncpg.PostgresError, OSError):  # a note is never worth failing a harvest for
            log.warning("could not note the harvest of %s", spec, exc_info=True)
