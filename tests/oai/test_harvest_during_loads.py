"""Incremental harvests while deliveries load in two gateway processes miss nothing.

Two worker processes (tests.intake.procs) load several overlapping deliveries (new records,
matches that update records and move their holdings' set datestamps, holdings added, updated and
deleted) while harvesters poll the OAI endpoint over HTTP, each starting the next harvest where
the last one left off: at the responseDate of its first or last response, or at the greatest
datestamp it has seen, as harvesters in the field do. After the loads, each harvester's picture
(identifier -> datestamp and status, the latest seen) must equal what the database holds, for
the whole repository (records and holdings) and for a library's set bib:SIGEL.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import asyncpg

from gateway import registry
from gateway.demo import synthetic
from gateway.intake import receive as intake
from tests.intake.helpers import seed_registry
from tests.oai.conftest import NS, Endpoint, check_document, error_code
from tests.oai.test_harvest import REPO

#: identifier -> (datestamp as sent, deleted?)
Picture = dict[str, tuple[str, bool]]
PROJECT_ROOT = __file__.rsplit("/tests/", 1)[0]


@dataclass
class Harvester:
    set_: str | None
    style: str  # "first" / "last": that response's responseDate; "max": the greatest datestamp seen
    picture: Picture = field(default_factory=dict)
    since: str | None = None
    harvests: int = 0

    async def harvest(self, session: aiohttp.ClientSession, url: str) -> None:
        params = {"verb": "ListIdentifiers", "metadataPrefix": "marc21"}
        if self.set_ is not None:
            params["set"] = self.set_
        if self.since is not None:
            params["from"] = self.since
        dates: list[str] = []
        while True:
            async with session.get(url, params=params) as r:
                assert r.status == 200
                root = check_document(await r.read())
            dates.append(root.findtext("o:responseDate", namespaces=NS) or "")
            code = error_code(root)
            if code is not None:
                assert code == "noRecordsMatch", code
                break
            for header in root.iterfind(".//o:header", NS):
                ident = header.findtext("o:identifier", namespaces=NS) or ""
                stamp = header.findtext("o:datestamp", namespaces=NS) or ""
                self.picture[ident] = (stamp, header.get("status") == "deleted")
            token = root.findtext(".//o:resumptionToken", namespaces=NS)
            if not token:
                break
            params = {"verb": "ListIdentifiers", "resumptionToken": token}
        self.harvests += 1
        if self.style == "first":
            self.since = dates[0]
        elif self.style == "last":
            self.since = dates[-1]
        elif self.picture:
            self.since = max(stamp for stamp, _ in self.picture.values())


def _stamp(column: str) -> str:
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


async def content(pool: asyncpg.Pool, set_: str | None) -> Picture:
    """What the database holds, read independently of the repository's queries."""
    async with pool.acquire() as conn:
        if set_ is None:
            rows = await conn.fetch(
                f"SELECT 'bib/' || id, {_stamp('modified_at')}, deleted FROM bib_records "
                f"UNION ALL SELECT 'hold/' || id, {_stamp('modified_at')}, deleted FROM holdings")
        else:
            rows = await conn.fetch(
                f"SELECT 'bib/' || b.id, {_stamp('h.set_datestamp')}, h.deleted OR b.deleted "
                "FROM holdings h JOIN bib_records b ON b.id = h.bib_id WHERE h.sigel = $1",
                set_.removeprefix("bib:"))
    return {REPO + r[0]: (r[1], r[2]) for r in rows}


async def _receive(pool: asyncpg.Pool, code: str, body: bytes) -> int:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    async with pool.acquire() as conn:
        supplier = await registry.get_supplier(conn, code)
    received = await intake.receive(pool, supplier, chunks(), content_type="application/xml", max_body=10**9)
    return received.id


async def _deliveries(pool: asyncpg.Pool) -> list[int]:
    """New records, matches of them by another supplier (updates: holdings' set datestamps move),
    more holdings on some, and deletions of holdings."""
    deletions = synthetic.delivery(300, ["Sods"], seed=4, start=0).replace(
        b"<leader>XXXXXax ", b"<leader>XXXXXdx ")
    bodies = [
        ("BOKR", synthetic.delivery(900, ["Sods", "Nyks"], seed=1, start=0)),
        ("ADLIB", synthetic.delivery(800, ["Li"], seed=2, start=450)),
        ("BOKR", synthetic.delivery(700, ["Sods", "G"], seed=3, start=650)),
        ("BOKR", deletions),
    ]
    return [await _receive(pool, code, body) for code, body in bodies]


async def _spawn_worker(db_url: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.intake.procs", "worker", db_url, "20", cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    assert b"worker ready" in await proc.stdout.readline()
    return proc


async def _all_done(pool: asyncpg.Pool, ids: list[int]) -> bool:
    async with pool.acquire() as conn:
        statuses = await conn.fetch("SELECT status FROM deliveries WHERE id = ANY($1::bigint[])", ids)
    assert all(r["status"] != "failed" for r in statuses)
    return all(r["status"] == "done" for r in statuses)


async def test_incremental_harvests_during_loads_in_two_processes_miss_nothing(
        pool: asyncpg.Pool, db_url: str) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
        await registry.add_customer(conn, "ADLIB", "Li")
    endpoint = Endpoint(pool, page_size=200)
    await endpoint.start()
    harvesters = [Harvester(set_, style) for set_ in (None, "bib:Sods") for style in ("first", "last", "max")]
    ids = await _deliveries(pool)
    workers = [await _spawn_worker(db_url) for _ in range(2)]
    loading = True

    async def poll(h: Harvester, session: aiohttp.ClientSession) -> None:
        while loading:
            await h.harvest(session, endpoint.url)
            await asyncio.sleep(0.02)

    try:
        async with aiohttp.ClientSession() as session:
            polls = [asyncio.create_task(poll(h, session)) for h in harvesters]
            try:
                async with asyncio.timeout(150):
                    while not await _all_done(pool, ids):
                        assert not any(p.done() for p in polls), [p.exception() for p in polls if p.done()]
                        await asyncio.sleep(0.2)
            finally:
                loading = False
                await asyncio.gather(*polls)
            for h in harvesters:  # the next night's harvest, after the loads
                await h.harvest(session, endpoint.url)
    finally:
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                w.send_signal(signal.SIGKILL)
            await w.wait()
        await endpoint.stop()
        endpoint.responses.clear()

    async with pool.acquire() as conn:
        outcomes = dict(await conn.fetch(
            "SELECT outcome, count(*) FROM delivery_records GROUP BY outcome"))
    # the loads did what the test is about: records created and updated, holdings added and deleted
    assert {"created", "added", "deleted"} <= set(outcomes), outcomes
    assert outcomes.get("updated", 0) > 0, outcomes
    for h in harvesters:
        assert h.harvests > 3, f"{h.set_} {h.style}: too few harvests during the loads"
        truth = await content(pool, h.set_)
        missed = {k: v for k, v in truth.items() if h.picture.get(k) != v}
        assert not missed, (
            f"{h.set_ or 'all'}, from={h.style}: {len(missed)} of {len(truth)} items missed or stale, "
            f"e.g. {sorted(missed.items())[:3]} (saw {[h.picture.get(k) for k in sorted(missed)[:3]]})")
        assert set(h.picture) == set(truth)
