"""Prometheus metrics (prometheus-client): this process's own series, and the fleet's at scrape time.

Each process counts what it does in its own registry (HTTP requests, OAI-PMH verbs, SRU
operations, loads, records and holdings per outcome, its pool, its CPU and memory). Those series
travel with its heartbeat (gateway/ops/heartbeat.py: the exposition text, every beat), so
`GET /metrics` on any web process shows every live process's series, each labelled with
`process` (host:pid) and `role`, plus what only the database knows, read when scraped: deliveries
per supplier and status, the queue and the age of its oldest delivery, open review items, the
outbox per channel and status, live processes per role. The answering process beats first, so
its own series are current and a counter never goes back whichever web process answers.

This module imports nothing of the gateway but the named queries: any module may count here.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import asyncpg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from gateway.store.queries import load

Q = load("metrics")
#: A scrape reads the database for at most this long (then 503).
SCRAPE_SECONDS = 5.0
disable_created_metrics()  # type: ignore[no-untyped-call]  # a `_created` series per counter doubles the output for nothing we use

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY, namespace="forvarv")

HTTP_REQUESTS = Counter("forvarv_http_requests", "HTTP requests answered, by route pattern, method and status",
                        ["route", "method", "status"], registry=REGISTRY)
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
OAI_REQUESTS = Counter("forvarv_oai_requests", "OAI-PMH requests by verb and HTTP status", ["verb", "status"],
                       registry=REGISTRY)
OAI_SECONDS = Histogram("forvarv_oai_request_seconds", "OAI-PMH request time by verb", ["verb"],
                        buckets=_LATENCY, registry=REGISTRY)
SRU_REQUESTS = Counter("forvarv_sru_requests", "SRU requests by operation and HTTP status", ["operation", "status"],
                       registry=REGISTRY)
SRU_SECONDS = Histogram("forvarv_sru_request_seconds", "SRU request time by operation", ["operation"],
                        buckets=_LATENCY, registry=REGISTRY)
LOADS = Counter("forvarv_loads", "Delivery loads this process ended, by outcome (done, failed, error: retried, "
                "handed_back: stopping)", ["outcome"], registry=REGISTRY)
RECORDS = Counter("forvarv_records", "Bibliographic records of loaded deliveries by supplier and outcome",
                  ["supplier", "outcome"], registry=REGISTRY)
HOLDINGS = Counter("forvarv_holdings", "Holdings of loaded deliveries by supplier and outcome",
                   ["supplier", "outcome"], registry=REGISTRY)
LOAD_SECONDS = Histogram("forvarv_load_seconds", "Time to load a delivery (this process's part of it)",
                         buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600), registry=REGISTRY)
LOAD_RATE = Gauge("forvarv_load_records_per_second", "Records per second of the last delivery this process loaded",
                  registry=REGISTRY)

_RECORD_OUTCOMES = ("created", "matched", "updated", "ambiguous", "rejected")
_HOLDING_OUTCOMES = ("added", "updated", "deleted", "rejected")


def delivery_loaded(supplier: str, totals: dict[str, int], seconds: float) -> None:
    """Count a loaded delivery's summary (gateway/intake/loader.py)."""
    LOADS.labels("done").inc()
    for outcome in _RECORD_OUTCOMES:
        RECORDS.labels(supplier, outcome).inc(totals.get(outcome, 0))
    for outcome in _HOLDING_OUTCOMES:
        HOLDINGS.labels(supplier, outcome).inc(totals.get(f"holdings_{outcome}", 0))
    LOAD_SECONDS.observe(seconds)
    if seconds > 0:
        LOAD_RATE.set(totals.get("records", 0) / seconds)


class _Pool(Collector):
    """The connection pool's use, read when collected."""

    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("forvarv_db_pool_connections", "Database pool connections by state",
                                   labels=["state"])
        if self.pool is not None:
            size, idle = self.pool.get_size(), self.pool.get_idle_size()
            family.add_metric(["in_use"], size - idle)
            family.add_metric(["idle"], idle)
            family.add_metric(["max"], self.pool.get_max_size())
        yield family


_POOL = _Pool()
REGISTRY.register(_POOL)


def watch_pool(pool: asyncpg.Pool) -> None:
    _POOL.pool = pool


class _Replicas(Collector):
    """The read replicas this process reads from (gateway/store/replicas.py), read when collected
    from the status function it was given (`Replicas.status`)."""

    def __init__(self) -> None:
        self.status: Callable[[], dict[str, Any]] | None = None

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("forvarv_read_replica_up", "1 if the read replica answered its last check",
                               labels=["replica"])
        usable = GaugeMetricFamily("forvarv_read_replica_usable", "1 if reads go to the replica (up, a "
                                   "standby, within FORVARV_READ_MAX_LAG)", labels=["replica"])
        lag = GaugeMetricFamily("forvarv_read_replica_lag_seconds", "Replay lag of the replica (an upper "
                                "bound; absent while unknown)", labels=["replica"])
        reads = CounterMetricFamily("forvarv_read_replica_reads", "Reads sent to the replica", labels=["replica"])
        fallbacks = CounterMetricFamily("forvarv_read_primary_fallbacks", "Reads that went to the primary "
                                        "although read replicas are configured")
        status = self.status() if self.status is not None else None
        if status is not None:
            for r in status["replicas"]:
                up.add_metric([r["name"]], 1 if r["up"] else 0)
                usable.add_metric([r["name"]], 1 if r["usable"] else 0)
                if r["lag_seconds"] is not None:
                    lag.add_metric([r["name"]], r["lag_seconds"])
                reads.add_metric([r["name"]], r["reads"])
            fallbacks.add_metric([], status["fallbacks"])
        yield from (up, usable, lag, reads, fallbacks)


_REPLICAS = _Replicas()
REGISTRY.register(_REPLICAS)


def watch_replicas(status: Callable[[], dict[str, Any]] | None) -> None:
    """Report the read replicas through `status` (None: none, or no longer)."""
    _REPLICAS.status = status


class _SruCache(Collector):
    """This process's SRU result cache (gateway/search/cache.py), read when collected from the
    status function it was given (`ResultCache.status`)."""

    def __init__(self) -> None:
        self.status: Callable[[], dict[str, int]] | None = None

    def collect(self) -> Iterator[Metric]:
        status = self.status() if self.status is not None else None
        if status is None:
            return
        on = GaugeMetricFamily("forvarv_sru_cache_on", "1 if the SRU result cache is in use (its listening "
                               "connection is open)")
        hits = CounterMetricFamily("forvarv_sru_cache_hits", "SRU result cache lookups answered (a response "
                                   "document, else a search's result)")
        misses = CounterMetricFamily("forvarv_sru_cache_misses", "SRU result cache lookups not answered while on")
        size = GaugeMetricFamily("forvarv_sru_cache_bytes", "Bytes the SRU result cache holds (estimated)")
        on.add_metric([], status["on"])
        hits.add_metric([], status["hits"])
        misses.add_metric([], status["misses"])
        size.add_metric([], status["bytes"])
        yield from (on, hits, misses, size)


_SRU_CACHE = _SruCache()
REGISTRY.register(_SRU_CACHE)


def watch_sru_cache(status: Callable[[], dict[str, int]] | None) -> None:
    """Report the SRU result cache through `status` (None: none, or no longer)."""
    _SRU_CACHE.status = status


def snapshot() -> str:
    """This process's series, as the heartbeat carries them."""
    return generate_latest(REGISTRY).decode()


# --- the scrape -------------------------------------------------------------------------------
class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def merge(processes: Iterable[tuple[dict[str, str], str]]) -> list[Metric]:
    """Every process's series in one family per name, each sample labelled with its process."""
    merged: dict[str, Metric] = {}
    for labels, text in processes:
        for family in text_string_to_metric_families(text):
            into = merged.get(family.name)
            if into is None:
                into = merged[family.name] = Metric(family.name, family.documentation, family.type)
            for s in family.samples:
                into.add_sample(s.name, {**labels, **s.labels}, s.value, s.timestamp, s.exemplar)
    return list(merged.values())


async def database_families(conn: asyncpg.Connection) -> list[Metric]:
    deliveries = GaugeMetricFamily("forvarv_deliveries", "Deliveries in the database by supplier and status "
                                   "(received = waiting; their sum is every delivery received)",
                                   labels=["supplier", "status"])
    for r in await conn.fetch(Q["deliveries"]):
        deliveries.add_metric([r["supplier"], r["status"]], r["n"])
    queue = await conn.fetchrow(Q["queue"])
    waiting = GaugeMetricFamily("forvarv_queue_deliveries", "Deliveries received or being loaded",
                                value=queue["waiting"])
    oldest = GaugeMetricFamily("forvarv_queue_oldest_seconds", "Age of the oldest delivery not yet loaded "
                               "(0 when none waits)", value=queue["oldest_seconds"])
    review = GaugeMetricFamily("forvarv_review_open", "Open review items", value=await conn.fetchval(Q["review_open"]))
    outbox = GaugeMetricFamily("forvarv_outbox", "Outbox rows by channel (mail, webhook) and status "
                               "(pending and sending: backlog)", labels=["channel", "status"])
    for r in await conn.fetch(Q["outbox"]):
        outbox.add_metric([r["channel"], r["status"]], r["n"])
    alive = GaugeMetricFamily("forvarv_processes", "Live gateway processes by role (heartbeats)", labels=["role"])
    for r in await conn.fetch(Q["processes"]):
        alive.add_metric([r["role"]], r["n"])
    return [deliveries, waiting, oldest, review, outbox, alive]


def render(families: list[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


# --- who may read it -------------------------------------------------------------------------
def allowed(remote: str | None, bearer: str | None, tokens: list[str], token_required: bool) -> str | None:
    """None if the request may read /metrics, else why not.

    With FORVARV_METRICS_TOKEN set, its bearer (or the admin token) is required from everyone.
    Without it, only loopback and private addresses may read (a proxy in front must keep
    /metrics from the public itself: to the gateway its requests come from its own address)."""
    if bearer is not None and any(hmac.compare_digest(bearer.encode(), t.encode()) for t in tokens):
        return None
    if token_required:
        return "a metrics token is required (Authorization: Bearer …)"
    try:
        address = ipaddress.ip_address((remote or "").split("%")[0])
    except ValueError:
        return "metrics are served to loopback and private addresses only"
    if address.is_loopback or address.is_private or address.is_link_local:
        return None
    return "metrics are served to loopback and private addresses only (or with FORVARV_METRICS_TOKEN)"


async def scrape(pool: asyncpg.Pool, own: dict[str, str], beat: Any | None) -> bytes:
    """The exposition: every live process's series (this one's fresh) and the database's figures."""
    async with asyncio.timeout(SCRAPE_SECONDS):
        if beat is not None:
            await beat.beat()  # our row carries our series as of now
        async with pool.acquire() as conn:
            rows = await conn.fetch(load("heartbeat")["alive_metrics"])
            families = await database_families(conn)
    processes = [({"process": f"{r['host']}:{r['pid']}", "role": r["role"]}, r["metrics"]) for r in rows]
    if beat is None:  # not a registered process (tests, tools): at least its own series
        processes.append((own, snapshot()))
    return render(merge(processes) + families)


CONTENT_TYPE = CONTENT_TYPE_LATEST
