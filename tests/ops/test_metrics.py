"""/metrics over real HTTP with web, worker and mailer as separate processes: every process's
series with its process and role, the database's figures, and who may read them."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from gateway.demo import synthetic
from gateway.ops import metrics
from tests.intake.helpers import seed_registry
from tests.ops import procs

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(session: aiohttp.ClientSession, web: procs.Proc, **kwargs: object) -> Samples:
    async with session.get(f"{web.url}/metrics", **kwargs) as resp:  # type: ignore[arg-type]
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = await resp.text()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= ls]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


async def test_metrics_show_every_process_and_the_database(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        world = await seed_registry(conn)
    environ = procs.env(db_url, tmp_path)
    async with procs.running("web", environ) as web, procs.running("worker", environ) as worker, \
            procs.running("mailer", environ) as mailer, aiohttp.ClientSession() as session:
        async with session.post(f"{web.url}/deliveries?wait=60", data=synthetic.delivery(30, ["Sods", "Nyks"]),
                                headers={"Authorization": f"Bearer {world.supplier_token}",
                                         "Content-Type": "application/marcxml+xml"}) as resp:
            assert resp.status == 202 or (await resp.json())["status"] == "done"
        for _ in range(2):
            async with session.get(f"{web.url}/oai", params={"verb": "Identify"}) as resp:
                assert resp.status == 200
        async with session.post(f"{web.url}/oai", data={"verb": "ListRecords", "metadataPrefix": "marc21"}) as resp:
            assert resp.status == 200
            await resp.read()  # a streamed page: leaving before its end is a 499
        async with session.get(f"{web.url}/oai", params={"verb": "Nonsense"}) as resp:
            assert resp.status == 200
        async with session.get(f"{web.url}/sru", params={"version": "1.2", "operation": "searchRetrieve",
                                                         "query": "dc.title=any"}) as resp:
            assert resp.status == 200

        async def settled() -> Samples | None:
            s = await _scrape(session, web)
            done = _value(s, "forvarv_records_total", role="worker", supplier="BOKR", outcome="created")
            spooled = _value(s, "forvarv_outbox", channel="mail", status="spooled")
            return s if done == 30 and spooled == 2 else None

        s = await procs.wait_for(settled)
        me, wk, ml = (f"{socket.gethostname()}:{p.pid}" for p in (web, worker, mailer))
        # the worker's own series, carried by its heartbeat, labelled with its process
        assert _value(s, "forvarv_records_total", process=wk, supplier="BOKR", outcome="created") == 30
        assert _value(s, "forvarv_holdings_total", process=wk, supplier="BOKR", outcome="added") == 30
        assert _value(s, "forvarv_loads_total", process=wk, outcome="done") == 1
        assert _value(s, "forvarv_load_seconds_count", process=wk) == 1
        assert (_value(s, "forvarv_load_records_per_second", process=wk) or 0) > 0
        assert _value(s, "forvarv_db_pool_connections", process=wk, state="max") == 10
        assert (_value(s, "forvarv_process_resident_memory_bytes", process=ml, role="mailer") or 0) > 0
        # the web process's requests
        posted = [_value(s, "forvarv_http_requests_total", process=me, role="web", route="/deliveries", method="POST",
                         status=status) or 0 for status in ("200", "202")]
        assert sum(posted) == 1
        assert _value(s, "forvarv_oai_requests_total", process=me, verb="Identify", status="200") == 2
        assert _value(s, "forvarv_oai_requests_total", process=me, verb="ListRecords", status="200") == 1
        assert _value(s, "forvarv_oai_requests_total", process=me, verb="badVerb", status="200") == 1
        assert _value(s, "forvarv_oai_request_seconds_count", process=me, verb="Identify") == 2
        assert _value(s, "forvarv_sru_requests_total", process=me, operation="searchRetrieve", status="200") == 1
        # nothing of the loading is counted where nothing is loaded
        assert _value(s, "forvarv_loads_total", process=me, outcome="done") is None
        # the database's figures, once, without a process label
        assert _value(s, "forvarv_deliveries", supplier="BOKR", status="done") == 1
        assert _value(s, "forvarv_queue_deliveries") == 0
        assert _value(s, "forvarv_queue_oldest_seconds") == 0
        assert _value(s, "forvarv_review_open") == 0
        assert {r: _value(s, "forvarv_processes", role=r) for r in ("web", "worker", "mailer")} == {
            "web": 1, "worker": 1, "mailer": 1}
        # a stopped process's series go with its heartbeat row
        assert await mailer.stop() == 0
        s = await _scrape(session, web)
        assert _value(s, "forvarv_process_resident_memory_bytes", process=ml) is None
        assert _value(s, "forvarv_processes", role="mailer") is None


async def test_a_metrics_token_is_required_when_set(db_url: str, tmp_path: Path) -> None:
    environ = procs.env(db_url, tmp_path, FORVARV_METRICS_TOKEN="scrape-me-9f2a")
    async with procs.running("web", environ) as web, aiohttp.ClientSession() as session:
        async with session.get(f"{web.url}/metrics") as resp:
            assert resp.status == 401
            assert (await resp.json())["message"].startswith("a metrics token is required")
        async with session.get(f"{web.url}/metrics", headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401
        for token in ("scrape-me-9f2a", procs.ADMIN_TOKEN):
            s = await _scrape(session, web, headers={"Authorization": f"Bearer {token}"})
            assert _value(s, "forvarv_processes", role="web") == 1


def test_without_a_token_only_private_addresses_may_read() -> None:
    for remote in ("127.0.0.1", "::1", "10.1.2.3", "192.168.0.9", "172.16.5.5", "fe80::1"):
        assert metrics.allowed(remote, None, [], token_required=False) is None, remote
    for remote in ("8.8.8.8", "2001:4860::1", None, "junk"):
        assert metrics.allowed(remote, None, [], token_required=False) is not None, remote
    assert metrics.allowed("8.8.8.8", "t", ["t"], token_required=False) is None
    assert metrics.allowed("127.0.0.1", None, ["t"], token_required=True) is not None
