"""OAI-PMH and SRU through a gateway that reads from a real streaming replica, over real HTTP.

Records are written on the primary the way the writers write them (oai_datestamp()). Harvesters
poll the endpoint as harvesters in the field do (the next harvest from the first or last
responseDate, or from the greatest datestamp seen) while the replica lags (replay paused), catches
up, is left out for lagging too far, or is stopped in the middle of a harvest; what each saw must
equal what the primary finally holds, and no harvest may list an item twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import Settings
from gateway.console.web import WROTE_COOKIE
from gateway.http.app import create_app
from gateway.http.reads import REPLICAS, replica_status
from gateway.search.http import SRU_CACHE
from gateway.store import db
from gateway.store.replicas import Replicas
from tests.console.helpers import csrf_of
from tests.oai import seed
from tests.ports import free_port
from tests.replicas.conftest import PATIENCE, Cluster, Databases

OAI = {"o": "http://www.openarchives.org/OAI/2.0/"}
SRW = {"s": "http://www.loc.gov/zing/srw/"}
REPO = "forvarv.example.org"
ADMIN_TOKEN = "replica-test-admin-token"
#: identifier -> (datestamp as sent, deleted?)
Picture = dict[str, tuple[str, bool]]


@dataclass
class Gateway:
    url: str
    app: web.Application
    session: aiohttp.ClientSession

    @property
    def replicas(self) -> Replicas:
        return self.app[REPLICAS]

    def replica(self) -> dict[str, Any]:
        status = replica_status(self.app)
        assert status is not None
        found: dict[str, Any] = status["replicas"][0]
        return found

    async def oai(self, **params: str) -> etree._Element:
        async with self.session.get(f"{self.url}/oai", params=params) as r:
            assert r.status == 200
            return etree.fromstring(await r.read())

    async def sru_hits(self, query: str) -> int:
        params = {"version": "1.2", "operation": "searchRetrieve", "query": query, "maximumRecords": "0"}
        async with self.session.get(f"{self.url}/sru", params=params) as r:
            assert r.status == 200
            root = etree.fromstring(await r.read())
        assert root.find(".//s:diagnostics", SRW) is None, etree.tostring(root)
        return int(root.findtext("s:numberOfRecords", namespaces=SRW) or "-1")

    async def metrics(self) -> dict[str, float]:
        """This process's read replica series on GET /metrics: name -> value (one replica)."""
        async with self.session.get(f"{self.url}/metrics") as r:
            assert r.status == 200
            text = await r.text()
        found = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith(("forvarv_read_replica", "forvarv_read_primary")):
                    found[sample.name] = sample.value
        return found

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait (not a timed assertion: PATIENCE is a generous bound) until the condition holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PATIENCE
        while not condition():
            assert loop.time() < deadline, f"never: {what} ({self.replica()})"
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def gateway(dbs: Databases, tmp_path: Path, *, max_lag: float = 3600.0, replica: bool = True,
                  ) -> AsyncIterator[Gateway]:
    """A gateway process on loopback reading from the replica (or, replica=False, the primary only)."""
    port = free_port()
    settings = Settings(
        database_url=dbs.primary, data_dir=tmp_path, public_url=f"http://127.0.0.1:{port}",
        secret="replica-test-secret", oai_page_size=7, parse_process=False, admin_token=ADMIN_TOKEN,
        read_database_urls=(dbs.replica,) if replica else (), read_max_lag=max_lag,
    )
    app = create_app(settings, database_url=dbs.primary, run_workers=False)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            gw = Gateway(f"http://127.0.0.1:{port}", app, session)
            if replica:
                await gw.until(lambda: gw.replica()["usable"], "the replica is usable")
            yield gw
    finally:
        await runner.cleanup()


@dataclass
class Harvester:
    style: str  # "first" / "last": that response's responseDate; "max": the greatest datestamp seen
    set_: str | None = None
    picture: Picture = field(default_factory=dict)
    since: str | None = None

    async def harvest(self, gw: Gateway, after_page: Callable[[int], Awaitable[None]] | None = None,
                      *, then: Gateway | None = None) -> int:
        """One harvest from `since`; returns the items listed. No item may be listed twice.
        `then`: the gateway that the pages after the first are asked of."""
        params = {"verb": "ListIdentifiers", "metadataPrefix": "marc21"}
        if self.set_ is not None:
            params["set"] = self.set_
        if self.since is not None:
            params["from"] = self.since
        dates: list[str] = []
        listed: set[str] = set()
        page = 0
        while True:
            root = await gw.oai(**params)
            dates.append(root.findtext("o:responseDate", namespaces=OAI) or "")
            error = root.find("o:error", OAI)
            if error is not None:
                assert error.get("code") == "noRecordsMatch", etree.tostring(error)
                break
            for header in root.iterfind(".//o:header", OAI):
                ident = header.findtext("o:identifier", namespaces=OAI) or ""
                assert ident not in listed, f"{ident} listed twice in one harvest"
                listed.add(ident)
                stamp = header.findtext("o:datestamp", namespaces=OAI) or ""
                self.picture[ident] = (stamp, header.get("status") == "deleted")
            page += 1
            if after_page is not None:
                await after_page(page)
            token = root.findtext(".//o:resumptionToken", namespaces=OAI)
            if not token:
                break
            params = {"verb": "ListIdentifiers", "resumptionToken": token}
            gw = then or gw
        if self.style == "first":
            self.since = dates[0]
        elif self.style == "last":
            self.since = dates[-1]
        elif self.picture:
            self.since = max(stamp for stamp, _ in self.picture.values())
        return len(listed)


def _stamp(column: str) -> str:
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


async def truth(conn: asyncpg.Connection) -> Picture:
    """What the primary holds: every bib and holding with its datestamp and status."""
    rows = await conn.fetch(
        f"SELECT 'bib/' || id, {_stamp('modified_at')}, deleted FROM bib_records "
        f"UNION ALL SELECT 'hold/' || id, {_stamp('modified_at')}, deleted FROM holdings")
    return {f"oai:{REPO}:{r[0]}": (r[1], r[2]) for r in rows}


class Writer:
    """Writes on the primary as loaders do: new records with holdings, changes, deletions."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.bibs: list[int] = []
        self.holdings: list[int] = []

    async def setup(self) -> None:
        await seed.add_library(self.conn, "REPL", "Replikbiblioteket")

    async def add(self, n: int, title: str) -> None:
        for i in range(n):
            bib = await seed.add_bib(self.conn, f"{title} {i}")
            self.bibs.append(bib)
            self.holdings.append(await seed.add_holding(self.conn, bib, "REPL"))

    async def change(self, every: int, *, delete: bool = False) -> None:
        """Every `every`th bib changed or deleted (its holdings' set datestamps move), and holdings."""
        for bib in self.bibs[::every]:
            await seed.touch_bib(self.conn, bib, delete=delete)
        for holding in self.holdings[1::every]:
            await seed.touch_holding(self.conn, holding, shelf="Ny hylla")


async def test_harvests_and_searches_on_a_lagging_replica_stay_exact(
    databases: Databases, cluster: Cluster, tmp_path: Path
) -> None:
    conn = await db.connect(databases.primary)
    writer = Writer(conn)
    await writer.setup()
    await writer.add(25, "Gammal bok")
    await cluster.caught_up()
    harvesters = [Harvester("first"), Harvester("last"), Harvester("max")]
    async with gateway(databases, tmp_path) as gw:
        for h in harvesters:
            assert await h.harvest(gw) == 50
            assert h.picture == await truth(conn)
        assert await gw.sru_hits('dc.title = "Gammal bok"') == 25
        assert SRU_CACHE not in gw.app  # no result cache with replicas: one may trail the notifications
        reads = gw.replica()["reads"]
        assert reads > 3 * 8 and gw.replicas.fallbacks == 0

        # Replay paused: the replica lags, the primary moves on; reads still go to the replica.
        await cluster.pause()
        await writer.change(9, delete=True)
        await writer.add(12, "Ny bok")
        await writer.change(4)
        assert await gw.sru_hits('dc.title = "Ny bok"') == 0  # the replica does not have them yet
        got = await gw.oai(verb="GetRecord", metadataPrefix="marc21",
                           identifier=f"oai:{REPO}:bib/{writer.bibs[-1]}")
        assert got.find("o:error", OAI).get("code") == "idDoesNotExist"  # type: ignore[union-attr]
        for h in harvesters:  # incremental harvests on the lagging replica: nothing yet, nothing wrong
            await h.harvest(gw)

        # A full harvest starts on the lagging replica; replay resumes in its middle while more
        # is written: the harvest neither skips nor repeats, and the next ones catch up.
        late = Harvester("last")

        async def meanwhile(page: int) -> None:
            if page == 2:
                await cluster.resume()
            if page in (2, 4, 6):
                await writer.add(2, f"Under skörd {page}")
                await writer.change(7)

        await late.harvest(gw, meanwhile)
        await cluster.caught_up()
        mark = datetime.now(UTC)
        await gw.until(lambda: _replica_horizon(gw) > mark, "the replica replays a newer horizon")
        final = await truth(conn)
        for h in [*harvesters, late]:
            await h.harvest(gw)
            assert h.picture == final, h.style
        assert await gw.sru_hits('dc.title = "Ny bok"') == 12
        assert gw.replica()["reads"] > reads and gw.replicas.fallbacks == 0
    await conn.close()


def _replica_horizon(gw: Gateway) -> datetime:
    value = gw.replica()["horizon"]
    return datetime.min.replace(tzinfo=UTC) if value is None else datetime.fromisoformat(value)


async def test_a_replica_stopped_mid_harvest_leaves_the_reads_to_the_primary(
    databases: Databases, cluster: Cluster, tmp_path: Path
) -> None:
    conn = await db.connect(databases.primary)
    writer = Writer(conn)
    await writer.setup()
    await writer.add(30, "Bok")
    await cluster.caught_up()
    async with gateway(databases, tmp_path) as gw:
        harvester = Harvester("last")
        served: list[tuple[int, int]] = []

        async def stop_after_two(page: int) -> None:
            served.append((gw.replica()["reads"], gw.replicas.fallbacks))
            if page == 2:
                cluster.stop_replica()
                await writer.add(3, "Medan repliken är nere")

        seen = await gw.metrics()
        assert seen["forvarv_read_replica_up"] == 1 and seen["forvarv_read_replica_usable"] == 1
        assert 0 <= seen["forvarv_read_replica_lag_seconds"] < 3600
        assert seen["forvarv_read_primary_fallbacks_total"] == 0
        assert await harvester.harvest(gw, stop_after_two) == 60
        assert served[1] == (2, 0)  # the first two pages from the replica
        assert served[-1][1] > 0  # the rest from the primary
        assert not gw.replica()["up"] and not gw.replica()["usable"]
        seen = await gw.metrics()
        assert seen["forvarv_read_replica_up"] == 0 and seen["forvarv_read_replica_usable"] == 0
        assert seen["forvarv_read_replica_reads_total"] == 2 and seen["forvarv_read_primary_fallbacks_total"] > 0
        assert await gw.sru_hits('dc.title = "Medan repliken"') == 3  # searches: the primary
        await harvester.harvest(gw)
        assert harvester.picture == await truth(conn)

        # Back: the checks bring it in again and reads return to it.
        cluster.start_replica()
        await gw.until(lambda: gw.replica()["usable"], "the restarted replica is used again")
        reads = gw.replica()["reads"]
        assert await gw.sru_hits('dc.title = "Medan repliken"') == 3
        assert gw.replica()["reads"] == reads + 1
    await conn.close()


async def test_a_replica_too_far_behind_is_left_out_and_a_harvest_moves_between_servers(
    databases: Databases, cluster: Cluster, tmp_path: Path
) -> None:
    conn = await db.connect(databases.primary)
    writer = Writer(conn)
    await writer.setup()
    await writer.add(20, "Bok")
    await cluster.caught_up()
    async with gateway(databases, tmp_path, max_lag=2.0) as gw:
        await cluster.pause()
        await writer.add(5, "Efter pausen")
        await gw.until(lambda: not gw.replica()["usable"], "the paused replica is left out")
        assert "exceeds" in gw.replica()["reason"]
        assert await gw.sru_hits('dc.title = "Efter pausen"') == 5  # the primary answers

        # A harvest begins on the primary (its token's bound is the primary's horizon) ...
        harvester = Harvester("first")
        pages: list[tuple[int, int]] = []
        start = datetime.now(UTC)

        async def resume_after_first(page: int) -> None:
            pages.append((gw.replica()["reads"], gw.replicas.fallbacks))
            if page == 1:  # ... and goes on on the replica once it has replayed that bound
                await cluster.resume()
                await gw.until(lambda: gw.replica()["usable"], "the replica caught up")
                await gw.until(lambda: _replica_horizon(gw) > start + timedelta(seconds=1),
                               "the replica replays the token's bound")

        assert await harvester.harvest(gw, resume_after_first) == 50
        assert pages[0][0] == 0 and pages[0][1] > 0  # page 1: the primary
        assert pages[-1][0] > pages[1][0] - 1 and pages[-1][0] > 0  # later pages: the replica
        assert pages[-1][1] == pages[0][1]  # no page after the first fell back
        assert harvester.picture == await truth(conn)
    await conn.close()


async def test_a_token_from_a_fresher_server_is_not_resumed_on_a_replica_behind_it(
    databases: Databases, cluster: Cluster, tmp_path: Path
) -> None:
    """Two gateway processes behind one address: one reads the primary, one the lagging replica.
    A harvest begun on the first continues on the second; the replica has not replayed the list's
    bound, so those pages come from the primary, and nothing the replica lacks is skipped."""
    conn = await db.connect(databases.primary)
    writer = Writer(conn)
    await writer.setup()
    await writer.add(10, "Bok")
    await cluster.caught_up()
    async with gateway(databases, tmp_path / "a") as lagging, \
            gateway(databases, tmp_path / "b", replica=False) as fresh:
        await cluster.pause()  # usable still: within its max lag
        await writer.add(10, "Efter pausen")
        await writer.change(3)
        harvester = Harvester("last")
        assert await harvester.harvest(fresh, then=lagging) == 40
        assert harvester.picture == await truth(conn)
        assert lagging.replica()["usable"] and lagging.replicas.fallbacks == 5  # every page after the first
        assert await lagging.sru_hits('dc.title = "Efter pausen"') == 0  # other reads: the replica
    await conn.close()


async def test_console_pages_read_from_the_replica_until_the_browser_changes_something(
    databases: Databases, cluster: Cluster, tmp_path: Path
) -> None:
    conn = await db.connect(databases.primary)
    writer = Writer(conn)
    await writer.setup()
    await writer.add(2, "Bok")
    await cluster.caught_up()
    async with gateway(databases, tmp_path) as gw:
        form = await gw.session.get(f"{gw.url}/console/sign-in")
        csrf = csrf_of(await form.text())
        signed = await gw.session.post(f"{gw.url}/console/sign-in", data={"csrf": csrf, "token": ADMIN_TOKEN},
                                       allow_redirects=False)
        assert signed.status == 303
        assert any(c.key == WROTE_COOKIE for c in gw.session.cookie_jar)  # signing in wrote a session
        gw.session.cookie_jar.clear(lambda c: c.key == WROTE_COOKIE)  # as a browser after the max lag

        await cluster.pause()
        await writer.add(1, "Efter pausen")
        new, old = writer.bibs[-1], writer.bibs[0]
        async with gw.session.get(f"{gw.url}/console/records/{old}") as r:
            assert r.status == 200 and "Bok 0" in await r.text()
        reads = gw.replica()["reads"]
        async with gw.session.get(f"{gw.url}/console/records/{new}") as r:
            assert r.status == 404  # the replica has not replayed it
        assert gw.replica()["reads"] == reads + 1

        # After a change in the console this browser reads the primary (its own writes).
        async with gw.session.get(f"{gw.url}/console/records/{old}") as r:
            csrf = csrf_of(await r.text())
        async with gw.session.post(f"{gw.url}/console/records/{old}/protect", data={"csrf": csrf},
                                   allow_redirects=False) as r:
            assert r.status == 303
        async with gw.session.get(f"{gw.url}/console/records/{new}") as r:
            assert r.status == 200 and "Efter pausen 0" in await r.text()
        assert gw.replica()["reads"] == reads + 2  # the protect page's CSRF read, not the one after
    await conn.close()
