"""The ceilings bench/ingest.py measures the gateway against (issue 14).

* **bare**: lxml iterparse of the payload and asyncpg COPY of every record's serialised XML into
  a one-column table: parse and store, nothing else.
* **fair**: what any loader that keeps the gateway's rules must at least do, done the cheapest
  way: a second process parses with lxml and extracts what the rules need (the summary the SRU
  index reads, the identifiers, the holding's library), while this process COPYs each batch of
  500 records into the real migrated schema — bib_records with its indexes and its search index
  (the 0003 triggers fire on COPY as on INSERT), bib_identifiers, bib_suppliers, holdings and the
  per-record results — one transaction per batch. The next batch is parsed while the previous one
  is written, so it uses both cores as the gateway does. No validation, no matching, no report,
  no HTTP.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import resource
import time
from typing import Any

import asyncpg
from lxml import etree

NS = "{http://www.loc.gov/MARC21/slim}"
MARC = NS + "record"
BATCH = 500

_BIB_COLUMNS = ("id", "match_class", "encoding_level", "marcxml", "summary", "supplier_id", "xml_unsafe")
_HOLDING_COLUMNS = ("id", "bib_id", "sigel", "marcxml", "deleted", "supplier_id", "xml_unsafe")
_RESULT_COLUMNS = ("delivery_id", "position", "kind", "parent_position", "supplier_id", "identifiers", "outcome",
                   "record_id", "holding_id", "sigel", "title")


async def bare(url: str, payload: bytes) -> tuple[float, int]:
    """lxml iterparse + asyncpg COPY of the serialised records: (seconds, MARC records)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_ceiling; CREATE TABLE bench_ceiling (n int, x text)")
        t0 = time.perf_counter()
        rows: list[tuple[int, str]] = []
        n = 0
        for _, elem in etree.iterparse(io.BytesIO(payload), events=("end",), tag=MARC,
                                       resolve_entities=False, no_network=True):
            n += 1
            rows.append((n, etree.tostring(elem, encoding="unicode")))
            elem.clear()
            if len(rows) >= BATCH:
                await conn.copy_records_to_table("bench_ceiling", records=rows)
                rows = []
        if rows:
            await conn.copy_records_to_table("bench_ceiling", records=rows)
        elapsed = time.perf_counter() - t0
        await conn.execute("DROP TABLE bench_ceiling")
        return elapsed, n
    finally:
        await conn.close()


def _subfields(elem: Any, tags: tuple[str, ...], code: str) -> list[str]:
    out = []
    for df in elem.iterchildren(NS + "datafield"):
        if df.get("tag") in tags:
            out.extend(sf.text or "" for sf in df.iterchildren(NS + "subfield") if sf.get("code") == code)
    return out


def _extract(elem: Any, pos: int) -> tuple[Any, ...]:
    """What the rules need of one record: ("bib", pos, own id, XML, summary, identifiers) or
    ("holding", pos, own id, XML, sigel)."""
    leader = elem.findtext(NS + "leader") or ""
    controls = {cf.get("tag"): cf.text or "" for cf in elem.iterchildren(NS + "controlfield")}
    xml = etree.tostring(elem, encoding="unicode")
    own = controls.get("001")
    if leader[6:7] in ("u", "v", "x", "y"):
        sigel = (_subfields(elem, ("852",), "b") or [""])[0]
        return ("holding", pos, own, xml, sigel)
    f008 = controls.get("008", "")
    isbns = [v.replace("-", "") for v in _subfields(elem, ("020",), "a")]
    summary = {"title": " ".join(_subfields(elem, ("245",), "a") + _subfields(elem, ("245",), "b")),
               "creators": _subfields(elem, ("100", "700"), "a"),
               "subjects": _subfields(elem, ("650",), "a"),
               "publisher": " ".join(_subfields(elem, ("264",), "b")),
               "year": f008[7:11], "language": f008[35:38], "isbns": isbns,
               "extent": " ".join(_subfields(elem, ("300",), "a"))}
    idents = [("isbn", i) for i in isbns]
    if own:
        idents += [("sysno", f"({controls.get('003', '')}){own}"), ("supplier", f"BENCH:{own}")]
    return ("bib", pos, own, xml, summary, idents, leader[17:18] or " ", leader[6:8])


def _parse(payload: bytes, out: Any) -> None:
    """In the second process: the payload's records, extracted, in batches of BATCH records."""
    batch: list[tuple[Any, ...]] = []
    parsed = etree.iterparse(io.BytesIO(payload), events=("end",), tag=MARC, resolve_entities=False,
                             no_network=True)
    for pos, (_, elem) in enumerate(parsed):
        batch.append(_extract(elem, pos))
        elem.clear()
        while elem.getprevious() is not None:
            del elem.getparent()[0]
        if len(batch) >= BATCH:
            out.send(batch)
            batch = []
    if batch:
        out.send(batch)
    out.send(None)
    out.close()


async def _write(conn: asyncpg.Connection, batch: list[tuple[Any, ...]], delivery_id: int,
                 supplier_id: int) -> None:
    bibs = [r for r in batch if r[0] == "bib"]
    holds = [r for r in batch if r[0] == "holding"]
    ids = await conn.fetchrow(
        "SELECT ARRAY(SELECT nextval('bib_id_seq') FROM generate_series(1, $1::int)) AS b, "
        "ARRAY(SELECT nextval('holding_id_seq') FROM generate_series(1, $2::int)) AS h", len(bibs), len(holds))
    bib_rows, ident_rows, supplier_rows, results = [], [], [], []
    last: tuple[int, int] | None = None
    parent: dict[int, tuple[int, int]] = {}
    bib_ids = iter(ids["b"])
    for r in batch:
        if r[0] == "bib":
            _, pos, own, xml, summary, idents, level, mc = r
            rid = next(bib_ids)
            last = (pos, rid)
            bib_rows.append((rid, mc, level, xml, summary, supplier_id, False))
            ident_rows.extend((k, v, rid) for k, v in idents)
            supplier_rows.append((rid, supplier_id))
            results.append((delivery_id, pos, "bib", None, own, [f"{k}:{v}" for k, v in idents], "created",
                            rid, None, None, summary["title"]))
        else:
            assert last is not None
            parent[r[1]] = last
    hold_rows = []
    for r, hid in zip(holds, ids["h"], strict=True):
        _, pos, own, xml, sigel = r
        ppos, rid = parent[pos]
        hold_rows.append((hid, rid, sigel, xml, False, supplier_id, False))
        results.append((delivery_id, pos, "holding", ppos, own, [], "added", rid, hid, sigel, None))
    async with conn.transaction():
        await conn.copy_records_to_table("bib_records", records=bib_rows, columns=_BIB_COLUMNS)
        await conn.copy_records_to_table("bib_identifiers", records=ident_rows, columns=("kind", "value", "bib_id"))
        await conn.copy_records_to_table("bib_suppliers", records=supplier_rows, columns=("bib_id", "supplier_id"))
        await conn.copy_records_to_table("holdings", records=hold_rows, columns=_HOLDING_COLUMNS)
        await conn.copy_records_to_table("delivery_records", records=results, columns=_RESULT_COLUMNS)


async def fair(conn: asyncpg.Connection, payload: bytes, supplier_id: int) -> tuple[float, int, float]:
    """The fair ceiling on `conn` (pool codecs: gateway.store.db): (seconds, MARC records, CPU seconds
    of the second process)."""
    delivery_id = await conn.fetchval(
        "INSERT INTO deliveries (supplier_id, format, sha256, size, record_count, status) "
        "VALUES ($1, 'marcxml', '', $2, 0, 'done') RETURNING id", supplier_id, len(payload))
    # forked: the payload is there without copying, and the child only parses and sends
    ctx = multiprocessing.get_context("fork")
    receiving, sending = ctx.Pipe(duplex=False)
    before = _children_cpu()
    t0 = time.perf_counter()
    child = ctx.Process(target=_parse, args=(payload, sending))
    child.start()
    sending.close()
    loop = asyncio.get_running_loop()
    n = 0
    writing: asyncio.Task[None] | None = None
    try:
        while (batch := await _recv(loop, receiving)) is not None:
            n += len(batch)
            if writing is not None:
                await writing
            writing = asyncio.create_task(_write(conn, batch, delivery_id, supplier_id))
        if writing is not None:
            await writing
    finally:
        receiving.close()
        child.join(timeout=30)
    elapsed = time.perf_counter() - t0
    return elapsed, n, _children_cpu() - before


async def _recv(loop: asyncio.AbstractEventLoop, conn: Any) -> Any:
    ready = loop.create_future()
    loop.add_reader(conn.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv()


def _children_cpu() -> float:
    """CPU seconds of this process's ended (waited for) children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
