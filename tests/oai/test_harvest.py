"""Full and incremental harvests across many pages with real harvesters (sickle, oaipmh-scythe)
against a real server on loopback, compared with what the database holds.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest
from oaipmh_scythe import Scythe
from sickle import Sickle

from gateway.oai import repository
from gateway.store import db
from tests.oai import seed
from tests.oai.conftest import NS, Endpoint, check_document, error_code, identifiers

pytestmark = pytest.mark.clients

REPO = "oai:forvarv.example.org:"
T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
# Harvest result: identifier -> deleted?
Harvest = dict[str, bool]


def _sickle(url: str, prefix: str, set_: str | None, from_: str | None, records: bool) -> list[tuple[str, bool]]:
    args = {"metadataPrefix": prefix, "ignore_deleted": False}
    if set_:
        args["set"] = set_
    if from_:
        args["from"] = from_
    client = Sickle(url, max_retries=0)
    try:
        if records:
            return [(r.header.identifier, r.header.deleted) for r in client.ListRecords(**args)]
        return [(h.identifier, h.deleted) for h in client.ListIdentifiers(**args)]
    except Exception as exc:  # sickle raises NoRecordsMatch as an exception
        if type(exc).__name__ == "NoRecordsMatch":
            return []
        raise


def _scythe(url: str, prefix: str, set_: str | None, from_: str | None, records: bool) -> list[tuple[str, bool]]:
    with Scythe(url) as client:
        try:
            if records:
                items = client.list_records(metadata_prefix=prefix, set_=set_, from_=from_)
                return [(r.header.identifier, r.header.deleted) for r in items]  # type: ignore[union-attr]
            heads = client.list_identifiers(metadata_prefix=prefix, set_=set_, from_=from_)
            return [(h.identifier, h.deleted) for h in heads]  # type: ignore[union-attr]
        except Exception as exc:
            if type(exc).__name__ == "NoRecordsMatch":
                return []
            raise


async def harvest(
    endpoint: Endpoint, harvester: str, set_: str | None, *, from_: str | None = None, records: bool = False
) -> Harvest:
    run = _sickle if harvester == "sickle" else _scythe
    got = await asyncio.to_thread(run, endpoint.url, "marc21", set_, from_, records)
    ids = [i for i, _ in got]
    assert len(ids) == len(set(ids)), f"{harvester} got repeated identifiers"
    return dict(got)


async def expected(pool: asyncpg.Pool, set_: str | None, since: datetime | None = None) -> Harvest:
    """What the database says a harvest must return (written independently of the repository)."""
    lo = since or datetime(1970, 1, 1, tzinfo=UTC)
    out: Harvest = {}
    async with pool.acquire() as conn:
        if set_ in (None, "bib"):
            for r in await conn.fetch("SELECT id, deleted FROM bib_records WHERE modified_at >= $1", lo):
                out[f"{REPO}bib/{r['id']}"] = r["deleted"]
        if set_ in (None, "hold"):
            for r in await conn.fetch("SELECT id, deleted FROM holdings WHERE modified_at >= $1", lo):
                out[f"{REPO}hold/{r['id']}"] = r["deleted"]
        if set_ and set_.startswith("bib:"):
            rows = await conn.fetch(
                """SELECT h.bib_id, h.deleted OR b.deleted AS deleted
                   FROM holdings h JOIN bib_records b ON b.id = h.bib_id
                   WHERE h.sigel = $1 AND greatest(h.modified_at, b.modified_at) >= $2""",
                set_[4:],
                lo,
            )
            for r in rows:
                out[f"{REPO}bib/{r['bib_id']}"] = r["deleted"]
        if set_ and set_.startswith("hold:"):
            rows = await conn.fetch(
                "SELECT id, deleted FROM holdings WHERE sigel = $1 AND modified_at >= $2", set_[5:], lo
            )
            for r in rows:
                out[f"{REPO}hold/{r['id']}"] = r["deleted"]
    return out


async def populate(pool: asyncpg.Pool) -> list[int]:
    """45 bibs (25 sharing one datestamp, so pages split inside a datestamp) with holdings."""
    async with pool.acquire() as conn:
        for sigel, name in (("S", "Kungliga biblioteket"), ("Sods", "Södertörn"), ("Gdig", "Göteborg")):
            await seed.add_library(conn, sigel, name)
        sup = await seed.add_supplier(conn, "BOKR", "Bokrondellen")
        bibs = []
        for i in range(45):
            at = T0 if i < 25 else T0 + timedelta(minutes=i, microseconds=i * 1000)
            bib = await seed.add_bib(conn, f"Bok {i}", supplier_id=sup if i % 4 == 0 else None, at=at)
            bibs.append(bib)
            if i % 2 == 0:
                await seed.add_holding(conn, bib, "S", at=at)
            if i % 3 == 0:
                await seed.add_holding(conn, bib, "Sods", at=at + timedelta(seconds=1))
    return bibs


async def change(pool: asyncpg.Pool, bibs: list[int]) -> None:
    """What the intake would do later: edits, deletions, new records and holdings."""
    async with pool.acquire() as conn:
        await seed.touch_bib(conn, bibs[1], title="Bok 1, rättad")
        await seed.touch_bib(conn, bibs[2], delete=True)
        s_holding = await conn.fetchval("SELECT id FROM holdings WHERE bib_id = $1 AND sigel = 'S'", bibs[4])
        await seed.touch_holding(conn, s_holding, delete=True)
        sods_holding = await conn.fetchval("SELECT id FROM holdings WHERE bib_id = $1 AND sigel = 'Sods'", bibs[6])
        await seed.touch_holding(conn, sods_holding, shelf="Nytt ställe")
        await seed.touch_bib(conn, bibs[8])  # has holdings at S and Sods: their set datestamps move
        for i in range(12):
            bib = await seed.add_bib(conn, f"Ny bok {i}")
            await seed.add_holding(conn, bib, "S")
    await asyncio.sleep(0.2)  # past the horizon margin


@pytest.mark.parametrize("harvester", ["sickle", "scythe"])
async def test_full_and_incremental_harvests(endpoint: Endpoint, pool: asyncpg.Pool, harvester: str) -> None:
    bibs = await populate(pool)
    await asyncio.sleep(0.1)
    for set_ in ("bib", "bib:S", "bib:Sods", "hold:S", "hold", None):
        got = await harvest(endpoint, harvester, set_)
        assert got == await expected(pool, set_), set_
        assert not any(got.values())
    assert len(await harvest(endpoint, harvester, "bib")) == 45
    assert len(await harvest(endpoint, harvester, None, records=True)) == 45 + 23 + 15

    async with pool.acquire() as conn:
        before: datetime = await conn.fetchval("SELECT date_trunc('second', now())")
    await change(pool, bibs)
    since = before.strftime("%Y-%m-%dT%H:%M:%SZ")
    for set_ in ("bib", "bib:S", "bib:Sods", "hold:S", "hold:Sods", None):
        got = await harvest(endpoint, harvester, set_, from_=since)
        assert got == await expected(pool, set_, before), set_
        full = await harvest(endpoint, harvester, set_)
        assert full == await expected(pool, set_), set_

    changed = await harvest(endpoint, harvester, "bib:S", from_=since, records=True)
    assert changed[f"{REPO}bib/{bibs[4]}"] is True  # S's holding deleted: deleted within bib:S
    assert changed[f"{REPO}bib/{bibs[2]}"] is True  # the bib itself deleted
    assert changed[f"{REPO}bib/{bibs[8]}"] is False  # the bib changed: moves in bib:S
    assert f"{REPO}bib/{bibs[6]}" not in changed  # Sods's holding changed, not S's
    assert f"{REPO}bib/{bibs[4]}" not in await harvest(endpoint, harvester, "bib", from_=since)
    assert (await harvest(endpoint, harvester, "bib"))[f"{REPO}bib/{bibs[4]}"] is False  # live outside S
    assert f"{REPO}bib/{bibs[6]}" in await harvest(endpoint, harvester, "bib:Sods", from_=since)


async def _page(endpoint: Endpoint, **params: str) -> tuple[list[str], dict[str, str], str | None]:
    root = await endpoint.get(**params)
    assert error_code(root) is None, root.findtext("o:error", namespaces=NS)
    token = root.find(".//o:resumptionToken", NS)
    attrs = dict(token.attrib) if token is not None else {}
    return identifiers(root), attrs, (token.text if token is not None else None)


@pytest.mark.parametrize("batch", [100, 3, 2])
async def test_cursor_and_complete_list_size(
    endpoint: Endpoint, pool: asyncpg.Pool, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "BATCH", batch)  # pages fetched in one or several batches
    await populate(pool)
    await asyncio.sleep(0.1)
    ids, attrs, token = await _page(endpoint, verb="ListIdentifiers", metadataPrefix="marc21", set="bib")
    seen, cursors = list(ids), [attrs["cursor"]]
    assert attrs["completeListSize"] == "45"
    while token:
        ids, attrs, token = await _page(endpoint, verb="ListIdentifiers", resumptionToken=token)
        seen += ids
        cursors.append(attrs["cursor"])
        assert attrs["completeListSize"] == "45"
    assert cursors == [str(c) for c in range(0, 45, 7)]
    assert len(seen) == len(set(seen)) == 45
    # A list that fits one page has no resumption token at all.
    async with pool.acquire() as conn:
        await seed.add_holding(conn, 100001, "Gdig", at=T0)
    await asyncio.sleep(0.1)
    ids, attrs, token = await _page(endpoint, verb="ListIdentifiers", metadataPrefix="marc21", set="hold:Gdig")
    assert len(ids) == 1
    assert attrs == {}


async def test_changes_during_a_harvest_are_neither_skipped_nor_repeated(
    endpoint: Endpoint, pool: asyncpg.Pool
) -> None:
    bibs = await populate(pool)
    await asyncio.sleep(0.1)
    root = await endpoint.get(verb="ListIdentifiers", metadataPrefix="marc21", set="bib")
    first_response = root.findtext("o:responseDate", namespaces=NS) or ""
    seen = identifiers(root)
    token = root.findtext(".//o:resumptionToken", namespaces=NS)
    delivered, pending = bibs[0], bibs[-1]
    assert f"{REPO}bib/{delivered}" in seen
    assert f"{REPO}bib/{pending}" not in seen
    async with pool.acquire() as conn:
        await seed.touch_bib(conn, delivered, title="ändrad")
        await seed.touch_bib(conn, pending, title="ändrad")
        new = await seed.add_bib(conn, "Ny under skörden")
    await asyncio.sleep(0.1)
    while token:
        ids, _, token = await _page(endpoint, verb="ListIdentifiers", resumptionToken=token)
        seen += ids
    assert len(seen) == len(set(seen))
    assert set(seen) == {f"{REPO}bib/{b}" for b in bibs} - {f"{REPO}bib/{pending}"}
    # The next incremental harvest picks up exactly what changed.
    later = await harvest(endpoint, "sickle", "bib", from_=first_response)
    assert set(later) == {f"{REPO}bib/{b}" for b in (delivered, pending, new)}


async def test_running_writer_holds_the_horizon(endpoint: Endpoint, pool: asyncpg.Pool, db_url: str) -> None:
    """A transaction that took its datestamp earlier but commits later must not be skipped by a
    harvest, nor by the next one that starts at the responseDate of the first."""
    await populate(pool)
    slow = await db.connect(db_url)
    try:
        tx = slow.transaction()
        await tx.start()
        late = await seed.add_bib(slow, "Långsam")  # its datestamp is taken: registered
        await asyncio.sleep(1.1)  # the next whole second
        async with pool.acquire() as conn:
            quick = await seed.add_bib(conn, "Snabb")  # later datestamp, commits first
        root = await endpoint.get(verb="ListIdentifiers", metadataPrefix="marc21", set="bib")
        response_date = root.findtext("o:responseDate", namespaces=NS) or ""
        got = await harvest(endpoint, "sickle", "bib")
        assert f"{REPO}bib/{quick}" not in got  # held back until the older writer is done
        stamp: datetime = await slow.fetchval("SELECT modified_at FROM bib_records WHERE id = $1", late)
        assert response_date <= stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        await tx.commit()
    finally:
        await slow.close()
    got = await harvest(endpoint, "scythe", "bib", from_=response_date)
    assert {f"{REPO}bib/{quick}", f"{REPO}bib/{late}"} <= set(got)
    assert len(await harvest(endpoint, "scythe", "bib")) == 47



async def test_tokens_survive_restart_and_a_second_process(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    bibs = await populate(pool)
    await asyncio.sleep(0.1)
    ids, _, token = await _page(endpoint, verb="ListRecords", metadataPrefix="marc21", set="bib:S")
    seen = list(ids)
    await endpoint.restart()
    assert token
    ids, _, token = await _page(endpoint, verb="ListRecords", resumptionToken=token)
    seen += ids
    other = Endpoint(pool)  # another gateway process with the same secret
    await other.start()
    try:
        while token:
            ids, _, token = await _page(other, verb="ListRecords", resumptionToken=token)
            seen += ids
    finally:
        await other.stop()
    for body in other.responses:
        check_document(body)
    assert len(seen) == len(set(seen))
    assert set(seen) == {f"{REPO}bib/{b}" for i, b in enumerate(bibs) if i % 2 == 0}


async def test_altered_and_foreign_tokens_are_refused(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    await populate(pool)
    await asyncio.sleep(0.1)
    _, _, token = await _page(endpoint, verb="ListIdentifiers", metadataPrefix="marc21", set="bib")
    assert token
    payload, mac = token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    for bad in (
        f"{flipped}.{mac}",
        f"{payload}.{mac[:-1]}",
        payload,
        token + "x",
        "x" * 40,
        f"{payload}.{payload}",
    ):
        root = await endpoint.get(verb="ListIdentifiers", resumptionToken=bad)
        assert error_code(root) == "badResumptionToken", bad
    root = await endpoint.get(verb="ListRecords", resumptionToken=token)  # issued for ListIdentifiers
    assert error_code(root) == "badResumptionToken"
    foreign = Endpoint(pool, secret="another-secret")
    await foreign.start()
    try:
        root = await foreign.get(verb="ListIdentifiers", resumptionToken=token)
        assert error_code(root) == "badResumptionToken"
    finally:
        await foreign.stop()
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)


def _respelled(token: str) -> list[str]:
    """A valid token written otherwise: junk characters, padding, another spelling of the MAC."""
    payload, mac = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 16 MAC bytes in 22 characters: the last one's 4 low bits are unused, so flipping one of them
    # spells the same bytes
    other_last = alphabet[alphabet.index(mac[-1]) ^ 1]
    middle = len(payload) // 2
    return [
        f"{payload}.{mac}=",
        f"{payload}.{mac}==",
        f"{payload}==.{mac}",
        f"{payload[:middle]}!{payload[middle:]}.{mac}",
        f"{payload[:middle]}~{payload[middle:]}.{mac}",
        f"{payload}.{mac[:5]} {mac[5:]}",
        f"{payload}.{mac[:5]}*{mac[5:]}",
        f"{payload}.{mac[:-1]}{other_last}",
    ]


async def test_tokens_respelled_with_junk_or_padding_are_refused(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    """Tokens decode strictly: only the exact text the server wrote continues a list."""
    await populate(pool)
    async with pool.acquire() as conn:
        for i in range(10):
            await seed.add_library(conn, f"L{i:02d}", f"Bibliotek {i}")
    _, _, token = await _page(endpoint, verb="ListIdentifiers", metadataPrefix="marc21", set="bib")
    sets_root = await endpoint.get(verb="ListSets")
    sets_token = sets_root.findtext(".//o:resumptionToken", namespaces=NS)
    assert token and sets_token
    for verb, good in (("ListIdentifiers", token), ("ListSets", sets_token)):
        for bad in _respelled(good):
            root = await endpoint.get(verb=verb, resumptionToken=bad)
            assert error_code(root) == "badResumptionToken", (verb, bad)
        assert error_code(await endpoint.get(verb=verb, resumptionToken=good)) is None


async def test_gzip_harvest_with_a_plain_client(endpoint: Endpoint, pool: asyncpg.Pool) -> None:
    await populate(pool)
    await asyncio.sleep(0.1)
    seen: list[str] = []
    params = {"verb": "ListRecords", "metadataPrefix": "marc21_withholdings", "set": "bib:Sods"}
    async with aiohttp.ClientSession() as s:
        while True:
            async with s.get(endpoint.url, params=params, headers={"Accept-Encoding": "gzip"}) as r:
                assert r.headers["Content-Encoding"] == "gzip"
                root = check_document(await r.read())
            seen += identifiers(root)
            token = root.findtext(".//o:resumptionToken", namespaces=NS)
            if not token:
                break
            params = {"verb": "ListRecords", "resumptionToken": token}
    assert set(seen) == set(await expected(pool, "bib:Sods"))
